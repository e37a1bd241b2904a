//! The offline file store: `<root>/<task_id[0..2]>/<task_id>`, each file a 960-byte header of
//! NUL-padded ASCII fields followed by the raw file bytes (STORAGE §6), so files written by the
//! original file_server load here and the other way round.
//!
//! Invariants: only task ids shaped like the UUIDs this server hands out are ever turned into
//! paths, so a client-supplied id cannot name a file outside the store; an upload starts from an
//! empty file (KNOWN_DEFECTS D-FS-3: the original appended to stale data); a stored file is
//! accepted for download only when its data length equals the size in its header. A stored
//! file stays until its retention period has passed (D-FS-3: the original never deleted
//! anything; file_server never hears of the record's deletion, which goes client → msg_server
//! → db_proxy, so age is the bound), and the store's size is kept under a quota by
//! [`DiskBudget`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Size of the header in front of the file data.
pub const HEADER_LEN: usize = 960;

/// `(offset, width)` of each header field.
const TASK_ID: (usize, usize) = (0, 128);
const FROM_USER_ID: (usize, usize) = (128, 64);
const TO_USER_ID: (usize, usize) = (192, 64);
const CREATE_TIME: (usize, usize) = (256, 128);
const FILE_NAME: (usize, usize) = (384, 512);
const FILE_SIZE: (usize, usize) = (896, 64);

/// Why a stored file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The task id is not one this server could have issued.
    #[error("task id is not a uuid")]
    BadTaskId,
    /// Reading or writing the file failed.
    #[error("offline file i/o failed")]
    Io(#[from] io::Error),
    /// A header field is not what the format requires.
    #[error("bad offline file header: {0}")]
    BadHeader(&'static str),
    /// The data after the header is not as long as the header says.
    #[error("offline file holds {data} bytes but its header says {header}")]
    SizeMismatch {
        /// Size recorded in the header.
        header: u64,
        /// Bytes present after the header.
        data: u64,
    },
}

/// The header of a stored offline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineHeader {
    /// Task id (the file's name).
    pub task_id: String,
    /// Uploader.
    pub from_user_id: u32,
    /// Receiver.
    pub to_user_id: u32,
    /// Upload start, Unix seconds.
    pub create_time: u64,
    /// Original file name (the original server always stored it empty).
    pub file_name: String,
    /// Size of the data that follows.
    pub file_size: u32,
}

impl OfflineHeader {
    /// The 960 header bytes. Text longer than a field is cut (on a character boundary) so a
    /// NUL always ends it, which the original's readers rely on.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        put(&mut out, TASK_ID, &self.task_id);
        put(&mut out, FROM_USER_ID, &self.from_user_id.to_string());
        put(&mut out, TO_USER_ID, &self.to_user_id.to_string());
        put(&mut out, CREATE_TIME, &self.create_time.to_string());
        put(&mut out, FILE_NAME, &self.file_name);
        put(&mut out, FILE_SIZE, &self.file_size.to_string());
        out
    }

    /// Parses header bytes.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, StoreError> {
        Ok(Self {
            task_id: text(bytes, TASK_ID)?.to_owned(),
            from_user_id: number(bytes, FROM_USER_ID, "from_user_id")?,
            to_user_id: number(bytes, TO_USER_ID, "to_user_id")?,
            create_time: number(bytes, CREATE_TIME, "create_time")?,
            file_name: text(bytes, FILE_NAME)?.to_owned(),
            file_size: number(bytes, FILE_SIZE, "file_size")?,
        })
    }
}

fn put(out: &mut [u8; HEADER_LEN], (at, width): (usize, usize), value: &str) {
    let mut end = value.len().min(width - 1);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    out[at..at + end].copy_from_slice(&value.as_bytes()[..end]);
}

fn text(bytes: &[u8; HEADER_LEN], (at, width): (usize, usize)) -> Result<&str, StoreError> {
    let field = &bytes[at..at + width];
    let len = field.iter().position(|&b| b == 0).unwrap_or(width);
    std::str::from_utf8(&field[..len]).map_err(|_| StoreError::BadHeader("text is not utf-8"))
}

fn number<T: std::str::FromStr>(
    bytes: &[u8; HEADER_LEN],
    field: (usize, usize),
    what: &'static str,
) -> Result<T, StoreError> {
    text(bytes, field)?
        .parse()
        .map_err(|_| StoreError::BadHeader(what))
}

/// Whether `id` has the UUID text form (8-4-4-4-12 hex digits).
pub fn is_task_id(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The directory holding the offline files.
#[derive(Debug, Clone)]
pub struct OfflineStore {
    root: PathBuf,
}

impl OfflineStore {
    /// A store rooted at `root` (created on first upload).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the file of `task_id` lives.
    pub fn path(&self, task_id: &str) -> Result<PathBuf, StoreError> {
        if !is_task_id(task_id) {
            return Err(StoreError::BadTaskId);
        }
        Ok(self.root.join(&task_id[..2]).join(task_id))
    }

    /// Starts an upload: creates (or truncates) the file and writes its header; data blocks
    /// are appended to the returned file.
    pub fn create(&self, header: &OfflineHeader) -> Result<File, StoreError> {
        let path = self.path(&header.task_id)?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        if let Err(e) = file.write_all(&header.encode()) {
            // Nothing partial stays behind (a full disk fails here first).
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(e.into());
        }
        Ok(file)
    }

    /// Every file of the store whose name is a task id, with its length and last change.
    /// Directories that cannot be read are skipped (logged); a missing root is empty.
    pub fn scan(&self) -> Vec<StoredFile> {
        let mut found = Vec::new();
        let top = match fs::read_dir(&self.root) {
            Ok(top) => top,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    log::warn!(
                        "cannot read offline store: dir={} err={e}",
                        self.root.display()
                    );
                }
                return found;
            }
        };
        for sub in top.flatten() {
            let Ok(files) = fs::read_dir(sub.path()) else {
                continue;
            };
            for file in files.flatten() {
                let name = file.file_name();
                let Some(task_id) = name.to_str().filter(|n| is_task_id(n)) else {
                    continue;
                };
                if sub.file_name().to_str() != Some(&task_id[..2]) {
                    continue;
                }
                let Ok(meta) = file.metadata() else {
                    continue;
                };
                if meta.is_file() {
                    found.push(StoredFile {
                        task_id: task_id.to_owned(),
                        len: meta.len(),
                        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    });
                }
            }
        }
        found
    }

    /// Opens a complete stored file for download: its header, and the file positioned at the
    /// first data byte.
    pub fn open(&self, task_id: &str) -> Result<(OfflineHeader, File), StoreError> {
        let mut file = File::open(self.path(task_id)?)?;
        let mut raw = [0u8; HEADER_LEN];
        file.read_exact(&mut raw)?;
        let header = OfflineHeader::decode(&raw)?;
        if header.task_id != task_id {
            return Err(StoreError::BadHeader(
                "task id does not match the file name",
            ));
        }
        let data = file.seek(SeekFrom::End(0))? - HEADER_LEN as u64;
        if data != u64::from(header.file_size) {
            return Err(StoreError::SizeMismatch {
                header: u64::from(header.file_size),
                data,
            });
        }
        file.seek(SeekFrom::Start(HEADER_LEN as u64))?;
        Ok((header, file))
    }

    /// Deletes the file of `task_id`; a missing file is not an error.
    pub fn remove(&self, task_id: &str) -> Result<(), StoreError> {
        match fs::remove_file(self.path(task_id)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// One file found by [`OfflineStore::scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Its task id (the file name).
    pub task_id: String,
    /// Length on disk, header included.
    pub len: u64,
    /// Last write: the end of its upload.
    pub modified: SystemTime,
}

/// The offline store's share of the disk: bytes of stored files plus bytes promised to
/// uploads in progress, kept under a quota. An upload reserves its whole size (header
/// included) before its first byte is written, so a refused upload leaves nothing on disk and
/// concurrent uploads cannot together pass the quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskBudget {
    quota: u64,
    stored: u64,
    reserved: u64,
}

impl DiskBudget {
    /// An empty budget of `quota` bytes.
    pub fn new(quota: u64) -> Self {
        Self {
            quota,
            stored: 0,
            reserved: 0,
        }
    }

    /// Bytes an offline file of `file_size` takes on disk.
    pub fn need(file_size: u32) -> u64 {
        HEADER_LEN as u64 + u64::from(file_size)
    }

    /// Bytes neither stored nor reserved.
    pub fn available(&self) -> u64 {
        self.quota.saturating_sub(self.stored + self.reserved)
    }

    /// Reserves `bytes` for an upload; `false` (and nothing reserved) when they do not fit.
    pub fn reserve(&mut self, bytes: u64) -> bool {
        if bytes > self.available() {
            return false;
        }
        self.reserved += bytes;
        true
    }

    /// Gives back a reservation (the upload was abandoned and its file removed).
    pub fn release(&mut self, bytes: u64) {
        self.reserved = self.reserved.saturating_sub(bytes);
    }

    /// Turns a reservation into stored bytes (the upload completed).
    pub fn commit(&mut self, bytes: u64) {
        self.release(bytes);
        self.stored += bytes;
    }

    /// Sets the stored bytes from a scan of the store (reservations are kept).
    pub fn set_stored(&mut self, bytes: u64) {
        self.stored = bytes;
    }

    /// Bytes of stored files.
    pub fn stored(&self) -> u64 {
        self.stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0f8e2c4a-9b1d-4e6f-8a2b-3c4d5e6f7a8b";

    fn header(size: u32) -> OfflineHeader {
        OfflineHeader {
            task_id: ID.to_owned(),
            from_user_id: 12,
            to_user_id: 4_000_000_000,
            create_time: 1_431_000_000,
            file_name: String::new(),
            file_size: size,
        }
    }

    fn temp_store(name: &str) -> OfflineStore {
        let dir = std::env::temp_dir().join(format!("fs-offline-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        OfflineStore::new(dir)
    }

    #[test]
    fn header_layout_matches_the_original() {
        let bytes = header(70_000).encode();
        assert_eq!(&bytes[..36], ID.as_bytes());
        assert!(bytes[36..128].iter().all(|&b| b == 0));
        assert_eq!(&bytes[128..131], b"12\0");
        assert_eq!(&bytes[192..203], b"4000000000\0");
        assert_eq!(&bytes[256..267], b"1431000000\0");
        assert!(bytes[384..896].iter().all(|&b| b == 0));
        assert_eq!(&bytes[896..902], b"70000\0");
        assert_eq!(OfflineHeader::decode(&bytes).unwrap(), header(70_000));
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let mut h = header(1);
        h.file_name = "é".repeat(400);
        let decoded = OfflineHeader::decode(&h.encode()).unwrap();
        assert_eq!(decoded.file_name, "é".repeat(255));
    }

    #[test]
    fn only_uuid_shaped_ids_become_paths() {
        let store = OfflineStore::new("/store");
        assert_eq!(
            store.path(ID).unwrap(),
            PathBuf::from(format!("/store/0f/{ID}"))
        );
        for bad in [
            "",
            "../../etc/passwd",
            "0f8e2c4a-9b1d-4e6f-8a2b-3c4d5e6f7a8",
            "../8e2c4a-9b1d-4e6f-8a2b-3c4d5e6f7a8b",
        ] {
            assert!(
                matches!(store.path(bad), Err(StoreError::BadTaskId)),
                "{bad}"
            );
        }
    }

    #[test]
    fn stored_file_opens_only_when_complete() {
        let store = temp_store("complete");
        let mut file = store.create(&header(5)).unwrap();
        file.write_all(b"abc").unwrap();
        assert!(matches!(
            store.open(ID),
            Err(StoreError::SizeMismatch { header: 5, data: 3 })
        ));
        file.write_all(b"de").unwrap();
        let (h, mut f) = store.open(ID).unwrap();
        assert_eq!(h, header(5));
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        assert_eq!(data, b"abcde");

        // A new upload of the same task starts from scratch instead of appending.
        drop(store.create(&header(5)).unwrap());
        assert!(matches!(
            store.open(ID),
            Err(StoreError::SizeMismatch { data: 0, .. })
        ));
        store.remove(ID).unwrap();
        store.remove(ID).unwrap();
        assert!(matches!(store.open(ID), Err(StoreError::Io(_))));
        fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn scan_lists_only_task_files_in_their_directory() {
        let store = temp_store("scan");
        assert!(store.scan().is_empty(), "a missing root is empty");
        let mut file = store.create(&header(3)).unwrap();
        file.write_all(b"abc").unwrap();
        let prefix = store.root().join(&ID[..2]);
        fs::write(prefix.join("notes.txt"), b"x").unwrap();
        let misplaced = store.root().join("zz");
        fs::create_dir_all(&misplaced).unwrap();
        fs::write(misplaced.join(ID), b"x").unwrap();
        let found = store.scan();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].task_id.as_str(), found[0].len), (ID, 963));
        fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn a_failed_header_write_leaves_no_file() {
        let store = temp_store("full");
        let path = store.path(ID).unwrap();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Every write to /dev/full fails with "no space left on device".
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        assert!(matches!(store.create(&header(3)), Err(StoreError::Io(_))));
        assert!(fs::symlink_metadata(&path).is_err(), "partial file removed");
        fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn budget_reserves_commits_and_releases() {
        let mut budget = DiskBudget::new(3_000);
        assert_eq!(DiskBudget::need(40), 1_000);
        assert!(budget.reserve(1_000));
        assert!(budget.reserve(1_500));
        assert!(!budget.reserve(600), "would pass the quota");
        assert_eq!(budget.available(), 500);
        budget.commit(1_000);
        budget.release(1_500);
        assert_eq!((budget.stored(), budget.available()), (1_000, 2_000));
        budget.set_stored(2_900);
        assert!(!budget.reserve(101));
        assert!(budget.reserve(100));
        assert_eq!(budget.available(), 0);
    }
}
