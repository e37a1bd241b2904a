//! The on-disk layout (STORAGE §5): `BaseDir/<first>/<second>/<unique><suffix>`, published as
//! `g0/<first>/<second>/<unique><suffix>`.
//!
//! For the file with counter N and `FilesPerDir` P: first = (N / P) / 255 and
//! second = (N mod 255·P) / P, as three-digit decimals. Unlike the original, the 256 × 256
//! directories are created when first used rather than all at start-up, and the first level
//! wraps after 255 instead of naming a directory that does not exist (KNOWN_DEFECTS
//! D-MSFS-6). Lookups accept only paths of exactly that shape, so a download can never name
//! anything outside the tree (D-AUTH-8, D-MSFS-4).
//!
//! The tree is kept under a disk quota: the bytes of the files in it are counted once at
//! start-up and every upload reserves its size before its file is created, so concurrent
//! writers cannot together pass the quota; a failed write removes its file and gives the
//! reservation back.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The fixed group segment at the front of every public path.
pub const GROUP: &str = "g0";
/// Second-level directories per first-level one, as in the original.
const SECOND_LEVEL: u64 = 255;
/// Longest unique-name stem (the original's 30-byte snprintf buffer).
const MAX_STEM: usize = 29;

/// Why a download path cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The path has no `/` at all (the original answers 500).
    NoSlash,
    /// The path is not a file of the tree (answered 404).
    NotInTree,
}

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The quota or the disk is full.
    #[error("no space left for the file")]
    Full,
    /// Creating or writing the file failed otherwise.
    #[error("cannot write the file")]
    Io(#[source] io::Error),
}

impl From<io::Error> for SaveError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::Full,
            _ => Self::Io(e),
        }
    }
}

/// The storage tree, its file counter and its share of the disk.
#[derive(Debug)]
pub struct FileStore {
    base: PathBuf,
    files_per_dir: u64,
    counter: AtomicU64,
    quota: u64,
    /// Bytes of stored files plus reservations of writes in progress.
    used: AtomicU64,
}

impl FileStore {
    /// Opens the tree at `base`, creating that directory (not its parents) if missing, and
    /// counts the bytes already stored against `quota`.
    pub fn open(base: &Path, files_per_dir: u64, file_cnt: u64, quota: u64) -> io::Result<Self> {
        match fs::create_dir(base) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        if !fs::metadata(base)?.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory",
                base.display()
            )));
        }
        Ok(Self {
            base: base.to_owned(),
            files_per_dir: files_per_dir.max(1),
            counter: AtomicU64::new(file_cnt),
            quota,
            used: AtomicU64::new(tree_size(base)),
        })
    }

    /// Bytes counted against the quota (stored files and writes in progress).
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    fn reserve(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.quota)
            })
            .is_ok()
    }

    fn release(&self, bytes: u64) {
        // Never below zero, even if the tree shrank under us.
        let _ = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// The current file counter (written back to `FileCnt` on exit).
    pub fn file_cnt(&self) -> u64 {
        self.counter.load(Ordering::SeqCst)
    }

    /// The two directory levels for counter `n`.
    pub fn dirs_for(&self, n: u64) -> (u64, u64) {
        let per = self.files_per_dir;
        let first = (n / per / SECOND_LEVEL) % 256;
        let second = (n % (per * SECOND_LEVEL)) / per;
        (first, second)
    }

    /// Stores `data` under a new unique name ending in `suffix`; returns its public path.
    /// `writer` distinguishes concurrent writers (the original used the thread id). Nothing
    /// stays on disk when it fails.
    pub fn save(&self, suffix: &str, data: &[u8], writer: usize) -> Result<String, SaveError> {
        let size = data.len() as u64;
        if !self.reserve(size) {
            return Err(SaveError::Full);
        }
        let saved = self.write_new(suffix, data, writer);
        if saved.is_err() {
            self.release(size);
        }
        saved
    }

    fn write_new(&self, suffix: &str, data: &[u8], writer: usize) -> Result<String, SaveError> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let (first, second) = self.dirs_for(n);
        let rel_dir = format!("{first:03}/{second:03}");
        let dir = self.base.join(&rel_dir);
        fs::create_dir_all(&dir)?;
        let mut micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        loop {
            let mut stem = format!("{micros}_{writer}");
            stem.truncate(MAX_STEM);
            let name = format!("{stem}{suffix}");
            let path = dir.join(&name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    if let Err(e) = file.write_all(data) {
                        drop(file);
                        let _ = fs::remove_file(&path);
                        return Err(e.into());
                    }
                    return Ok(format!("{GROUP}/{rel_dir}/{name}"));
                }
                // Same microsecond and writer: take the next microsecond.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => micros += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The file named by a download URL path (the request target without its leading `/`):
    /// the first segment (the group) is ignored, the rest must be `DDD/DDD/<name>`.
    pub fn resolve(&self, url: &str) -> Result<PathBuf, Lookup> {
        let (_, rest) = url.split_once('/').ok_or(Lookup::NoSlash)?;
        let mut parts = rest.split('/');
        let (Some(first), Some(second), Some(name), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Lookup::NotInTree);
        };
        let is_level = |s: &str| {
            s.len() == 3
                && s.bytes().all(|b| b.is_ascii_digit())
                && s.parse::<u16>().is_ok_and(|v| v <= 255)
        };
        if !is_level(first)
            || !is_level(second)
            || name.is_empty()
            || name == "."
            || name == ".."
            || name.contains('\0')
        {
            return Err(Lookup::NotInTree);
        }
        Ok(self.base.join(first).join(second).join(name))
    }
}

/// Bytes of the files in the two tree levels under `base` (unreadable entries are skipped).
fn tree_size(base: &Path) -> u64 {
    let entries = |dir: &Path| fs::read_dir(dir).into_iter().flatten().flatten();
    let mut total = 0;
    for first in entries(base) {
        for second in entries(&first.path()) {
            for file in entries(&second.path()) {
                if let Ok(meta) = file.metadata() {
                    if meta.is_file() {
                        total += meta.len();
                    }
                }
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("msfs-store-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn directory_levels_follow_the_original_formula() {
        let base = temp("levels");
        let store = FileStore::open(&base, 2, 0, u64::MAX).unwrap();
        assert_eq!(store.dirs_for(0), (0, 0));
        assert_eq!(store.dirs_for(1), (0, 0));
        assert_eq!(store.dirs_for(2), (0, 1));
        assert_eq!(store.dirs_for(509), (0, 254));
        assert_eq!(store.dirs_for(510), (1, 0));
        // Wraps instead of naming directory 256.
        assert_eq!(store.dirs_for(510 * 256), (0, 0));
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn saved_files_resolve_back_and_the_counter_advances() {
        let base = temp("save");
        let store = FileStore::open(&base, 1, 5, u64::MAX).unwrap();
        let path = store.save(".jpg", b"hello", 3).unwrap();
        assert!(path.starts_with("g0/000/005/"), "{path}");
        assert!(path.ends_with("_3.jpg"), "{path}");
        let second = store.save(".jpg", b"again", 3).unwrap();
        assert!(second.starts_with("g0/000/006/"), "{second}");
        assert_eq!(store.file_cnt(), 7);
        let file = store.resolve(&path).unwrap();
        assert_eq!(fs::read(file).unwrap(), b"hello");
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn only_tree_paths_resolve() {
        let base = temp("resolve");
        let store = FileStore::open(&base, 1, 0, u64::MAX).unwrap();
        assert_eq!(store.resolve("nothing"), Err(Lookup::NoSlash));
        assert_eq!(
            store.resolve("anygroup/001/254/x.png").unwrap(),
            base.join("001/254/x.png")
        );
        for bad in [
            "g0/",
            "g0/000/000",
            "g0/000/000/",
            "g0/000/000/.",
            "g0/256/000/x",
            "g0/00/000/x",
            "g0/000/000/x/y",
            "g0/x.png",
            "g0//etc/passwd",
            "g0/000/000/x.png?w=1/2",
        ] {
            assert_eq!(store.resolve(bad), Err(Lookup::NotInTree), "{bad}");
        }
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn quota_counts_existing_files_and_refuses_what_does_not_fit() {
        let base = temp("quota");
        let store = FileStore::open(&base, 1, 0, 10).unwrap();
        store.save(".jpg", b"123456", 0).unwrap();
        assert_eq!(store.used(), 6);
        assert!(matches!(
            store.save(".jpg", b"12345", 0),
            Err(SaveError::Full)
        ));
        store.save(".jpg", b"1234", 0).unwrap();
        // A restart counts what is on disk.
        drop(store);
        let store = FileStore::open(&base, 1, 2, 10).unwrap();
        assert_eq!(store.used(), 10);
        assert!(matches!(store.save(".jpg", b"1", 0), Err(SaveError::Full)));
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn failed_write_gives_its_reservation_back() {
        let base = temp("fail");
        let store = FileStore::open(&base, 1, 0, 100).unwrap();
        // Counter 0 goes to 000/000; a file in the way of that directory makes the write fail.
        fs::write(base.join("000"), b"").unwrap();
        assert!(matches!(
            store.save(".jpg", b"abc", 0),
            Err(SaveError::Io(_))
        ));
        assert_eq!(store.used(), 0);
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn full_disk_errors_are_told_apart() {
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert!(matches!(SaveError::from(full), SaveError::Full));
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert!(matches!(SaveError::from(denied), SaveError::Io(_)));
    }

    #[test]
    fn base_dir_parent_must_exist() {
        let base = temp("parent").join("child");
        assert!(FileStore::open(&base, 1, 0, u64::MAX).is_err());
    }
}
