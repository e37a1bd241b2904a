//! The workspace's binaries, for tests that run them as processes: cargo provides
//! `CARGO_BIN_EXE_*` only for a package's own binaries, so the others are built on first use
//! into the same target directory as the running test.
//!
//! They are built as `cargo build --workspace --tests` builds them: with the features the
//! whole workspace's tests unify to, which are those `cargo test --workspace` already built
//! them with, so under it the build is a check that finds nothing to do. Building one
//! package alone would resolve other features and compile much of the tree a second time.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The path of binary `bin` of workspace package `package`, built (once per test process) in
/// the profile the running test was built in.
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.get(bin) {
        return path.clone();
    }
    let exe = std::env::current_exe().expect("no path of the running test");
    // target/<profile>/deps/<this test> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is not in target/<profile>/deps")
        .to_path_buf();
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "--workspace", "--tests"]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {bin} of {package}: {e}"));
    assert!(status.success(), "building {bin} of {package} failed");
    let path = profile_dir.join(bin);
    assert!(path.exists(), "{} missing after the build", path.display());
    built.insert(bin.to_owned(), path.clone());
    path
}
