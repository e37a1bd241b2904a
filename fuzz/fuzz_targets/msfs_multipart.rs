//! msfs request handling short of the disk: the head/body intake of a connection (bytes arriving
//! in pieces), the multipart upload parser, and the download path check.

#![no_main]

use std::path::{Component, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use msfs::http::Job;
use msfs::store::FileStore;

fn store() -> &'static (FileStore, PathBuf) {
    static STORE: OnceLock<(FileStore, PathBuf)> = OnceLock::new();
    STORE.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("teamtalk-fuzz-msfs-{}", std::process::id()));
        // The target only resolves paths and parses uploads: nothing is stored, any quota will do.
        let store = FileStore::open(&base, 30, 0, u64::MAX).expect("temp dir is writable");
        (store, base)
    })
}

fuzz_target!(|data: &[u8]| {
    // First byte: the size of the pieces the request arrives in (1..=256 bytes).
    let Some((&piece, request)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece) + 1;
    let Some(job) = msfs::intake_job(request.chunks(piece).map(<[u8]>::to_vec)) else {
        return;
    };
    match job {
        Job::Upload {
            content_type, body, ..
        } => {
            if let Ok(upload) = msfs::multipart::parse(content_type.as_deref(), &body) {
                assert!(
                    body.get(upload.data.clone()).is_some(),
                    "upload range out of body"
                );
            }
        }
        Job::Download { target } => {
            let (store, base) = store();
            let url = target.strip_prefix('/').unwrap_or(&target);
            if let Ok(path) = store.resolve(url) {
                // A download never leaves the tree.
                let rel = path.strip_prefix(base).expect("resolved under the base");
                assert!(rel.components().all(|c| matches!(c, Component::Normal(_))));
            }
        }
    }
});
