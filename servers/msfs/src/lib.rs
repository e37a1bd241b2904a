//! msfs: the image and audio blob store (PROTOCOL §10, BEHAVIOUR §11, STORAGE §5).
//!
//! Clients and db_proxy upload files with a multipart `POST` and get back a path and URL; a
//! `GET` of the path returns the file. Files live under `BaseDir` in a 256 × 256 directory
//! tree; the file counter that spreads them over the tree is written back to the `FileCnt` line
//! of `msfs.conf` when the server stops.
//!
//! Disk I/O runs on worker threads (see [`server`]). Differences from the original, all safe
//! for conforming clients (KNOWN_DEFECTS §12, D-NET-4, D-AUTH-8): requests are read
//! incrementally and a declared body over 10 MiB is refused at once; files over 5 MiB are
//! refused with an error answer instead of a fake success; downloads only ever name files of
//! the tree, directories answer 404, non-images are `application/octet-stream`; 403/404/500
//! answers are well-formed; the counter write-back keeps the conf file's comments and order;
//! tree directories are created on first use; there is no in-memory file cache; concurrent
//! connections, the store's disk space and the time a request may take to arrive are bounded.

pub mod config;
pub mod http;
mod metrics;
pub mod multipart;
pub mod server;
pub mod store;

pub use config::Config;
pub use server::{Server, ServerError, ServerHandle};

/// Feeds one connection's bytes, arriving in `chunks`, through its request intake as the
/// reactor does, and returns the job handed to a worker, if any. For the fuzz targets; not part
/// of the server's interface.
#[doc(hidden)]
pub fn intake_job(chunks: impl IntoIterator<Item = Vec<u8>>) -> Option<http::Job> {
    let mut intake = http::Intake::Head { scanned: 0 };
    let mut input = Vec::new();
    for chunk in chunks {
        input.extend_from_slice(&chunk);
        match intake.advance(&mut input) {
            http::Step::Wait => {}
            http::Step::Run(job) => return Some(job),
            http::Step::Close(_) | http::Step::Answer(_) => return None,
        }
    }
    None
}
