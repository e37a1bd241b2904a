//! Transfer tasks: the state machine of one file transfer (BEHAVIOUR §5.3) and the table of live
//! tasks.
//!
//! A task is created by a msg_server's IMFileTransferReq and joined by the two clients over the
//! client port. Online tasks relay blocks between the two connections; offline tasks store the
//! upload in the [`OfflineStore`] and serve it back to the receiver. The state numbers are the
//! original's (they appear in its logs); states 6, 12 and 13 were never entered and are left out.
//!
//! Invariants kept here, unlike the original: at most one connection per side (KNOWN_DEFECTS
//! D-FS-8: a login that does not fit the state is refused); an uploaded block must have exactly
//! the expected size (D-FS-1); a task idle for longer than the configured timeout is dropped
//! (D-FS-2, see [`TaskTable::expire`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netlib::ConnHandle;

use crate::offline::{OfflineHeader, OfflineStore, StoreError};

/// Size of every block but the last (the original's `SEGMENT_SIZE`).
pub const BLOCK_SIZE: u32 = 32_768;

/// `IM.BaseDefine.TransferFileType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMode {
    /// Both clients connected at once; blocks are relayed.
    Online = 1,
    /// The sender uploads, the receiver downloads later.
    Offline = 2,
}

impl TransferMode {
    /// The mode for a wire value, if valid.
    pub fn from_wire(value: i32) -> Option<Self> {
        match value {
            1 => Some(Self::Online),
            2 => Some(Self::Offline),
            _ => None,
        }
    }
}

/// `IM.BaseDefine.ClientFileRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// Online sender.
    RealtimeSender = 1,
    /// Online receiver.
    RealtimeRecver = 2,
    /// Offline uploader.
    OfflineUpload = 3,
    /// Offline downloader.
    OfflineDownload = 4,
}

impl FileRole {
    /// The role for a wire value, if valid.
    pub fn from_wire(value: i32) -> Option<Self> {
        match value {
            1 => Some(Self::RealtimeSender),
            2 => Some(Self::RealtimeRecver),
            3 => Some(Self::OfflineUpload),
            4 => Some(Self::OfflineDownload),
            _ => None,
        }
    }
}

/// Task states, numbered as in the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskState {
    /// An online peer left; the other side is being closed.
    Invalid = 0,
    /// Created, nobody joined yet.
    Ready = 1,
    /// Online: the receiver joined first.
    WaitingSender = 2,
    /// Online: the sender joined first.
    WaitingReceiver = 3,
    /// Online: both joined.
    WaitingTransfer = 4,
    /// Online: blocks are flowing.
    Transferring = 5,
    /// Offline: the uploader joined.
    WaitingUpload = 7,
    /// Offline: blocks are being stored.
    Uploading = 8,
    /// Offline: the file is complete on disk.
    UploadEnd = 9,
    /// Offline: the receiver joined.
    WaitingDownload = 10,
    /// Offline: blocks are being served.
    Downloading = 11,
}

/// Why a task refused a request.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The role does not belong to this kind of task or to this user.
    #[error("role {role:?} is not allowed for user {user_id}")]
    WrongRole {
        /// Role asked for.
        role: FileRole,
        /// User asking.
        user_id: u32,
    },
    /// The request does not fit the task's state.
    #[error("request not allowed in state {0:?}")]
    WrongState(TaskState),
    /// The user is not the side this request belongs to.
    #[error("user {0} is not the expected side of the task")]
    WrongUser(u32),
    /// The block offset is not the next one.
    #[error("offset {got} but the next block starts at {expected}")]
    Offset {
        /// Next block's offset.
        expected: u32,
        /// Offset received.
        got: u32,
    },
    /// An uploaded block is not exactly the expected size.
    #[error("block of {got} bytes but {expected} expected")]
    BlockSize {
        /// Expected size.
        expected: u32,
        /// Size received.
        got: usize,
    },
    /// The stored file could not be written or read.
    #[error("offline store failed")]
    Store(#[from] StoreError),
}

impl From<std::io::Error> for TaskError {
    fn from(e: std::io::Error) -> Self {
        Self::Store(StoreError::Io(e))
    }
}

/// What a connection close means for its task.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Release {
    /// The other side's connection, to be closed (online tasks die with either side).
    pub close_peer: Option<ConnHandle>,
    /// The task should be forgotten.
    pub delete: bool,
    /// A partial upload should be deleted from the store.
    pub discard_upload: bool,
}

/// Outcome of a stored or served block.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// More blocks follow; the next one starts at `offset` and has `size` bytes.
    Next {
        /// Offset of the next block.
        offset: u32,
        /// Size of the next block.
        size: u32,
    },
    /// That was the last block.
    Done,
}

/// One transfer.
#[derive(Debug)]
pub struct Task {
    /// The task id (a UUID string).
    pub id: String,
    /// Sender / uploader.
    pub from_user_id: u32,
    /// Receiver / downloader.
    pub to_user_id: u32,
    /// File name as given by the sender.
    pub file_name: String,
    /// File size in bytes.
    pub file_size: u32,
    /// Online or offline.
    pub mode: TransferMode,
    state: TaskState,
    from_conn: Option<ConnHandle>,
    to_conn: Option<ConnHandle>,
    last_active: Instant,
    /// Seq of the receiver's last IMFilePullDataReq (online; PROTOCOL §2.3).
    pull_seq: u16,
    /// Offline: blocks stored or served so far.
    blocks_done: u32,
    /// Offline: the stored file while uploading or downloading.
    file: Option<File>,
    /// Offline: bytes of the disk budget held for this task's upload (0 when none).
    pub reserved: u64,
    /// Created by a msg_server (counts against its sender's task limit), not reloaded.
    created: bool,
}

impl Task {
    /// A fresh task in state Ready.
    pub fn new(
        id: String,
        from_user_id: u32,
        to_user_id: u32,
        file_name: String,
        file_size: u32,
        mode: TransferMode,
        now: Instant,
    ) -> Self {
        Self {
            id,
            from_user_id,
            to_user_id,
            file_name,
            file_size,
            mode,
            state: TaskState::Ready,
            from_conn: None,
            to_conn: None,
            last_active: now,
            pull_seq: 0,
            blocks_done: 0,
            file: None,
            reserved: 0,
            created: true,
        }
    }

    /// An offline task rebuilt from a complete stored file, ready for download.
    pub fn from_stored(header: OfflineHeader, now: Instant) -> Self {
        let mut task = Self::new(
            header.task_id,
            header.from_user_id,
            header.to_user_id,
            header.file_name,
            header.file_size,
            TransferMode::Offline,
            now,
        );
        task.state = TaskState::WaitingDownload;
        task.created = false;
        task
    }

    /// Current state.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// Number of blocks; an empty file is one empty block.
    pub fn block_count(&self) -> u32 {
        self.file_size.div_ceil(BLOCK_SIZE).max(1)
    }

    /// Offset of the next block to store or serve.
    pub fn next_offset(&self) -> u32 {
        self.blocks_done * BLOCK_SIZE
    }

    /// Size of the next block to store or serve.
    pub fn next_block_size(&self) -> u32 {
        if self.blocks_done + 1 >= self.block_count() {
            self.file_size - (self.block_count() - 1) * BLOCK_SIZE
        } else {
            BLOCK_SIZE
        }
    }

    /// The connection of the receiver.
    pub fn to_conn(&self) -> Option<ConnHandle> {
        self.to_conn
    }

    /// The connection of the sender.
    pub fn from_conn(&self) -> Option<ConnHandle> {
        self.from_conn
    }

    /// The other side's connection, seen from `user_id`.
    pub fn opponent_conn(&self, user_id: u32) -> Option<ConnHandle> {
        if user_id == self.from_user_id {
            self.to_conn
        } else {
            self.from_conn
        }
    }

    /// Whether no request touched the task for longer than `timeout`.
    pub fn is_idle(&self, now: Instant, timeout: Duration) -> bool {
        now.saturating_duration_since(self.last_active) > timeout
    }

    /// A client joins as `role`; on success `conn` becomes that side's connection.
    pub fn login(
        &mut self,
        user_id: u32,
        role: FileRole,
        conn: ConnHandle,
        now: Instant,
    ) -> Result<(), TaskError> {
        use FileRole::*;
        use TaskState::*;
        let wrong_role = TaskError::WrongRole { role, user_id };
        let is_sender_side = match (self.mode, role) {
            (TransferMode::Online, RealtimeSender) | (TransferMode::Offline, OfflineUpload) => true,
            (TransferMode::Online, RealtimeRecver) | (TransferMode::Offline, OfflineDownload) => {
                false
            }
            _ => return Err(wrong_role),
        };
        let expected_user = if is_sender_side {
            self.from_user_id
        } else {
            self.to_user_id
        };
        if user_id != expected_user {
            return Err(wrong_role);
        }
        let slot = if is_sender_side {
            &mut self.from_conn
        } else {
            &mut self.to_conn
        };
        if slot.is_some() {
            return Err(TaskError::WrongState(self.state));
        }
        self.state = match (self.state, role) {
            (Ready, RealtimeSender) => WaitingReceiver,
            (Ready, RealtimeRecver) => WaitingSender,
            (WaitingReceiver, RealtimeRecver) | (WaitingSender, RealtimeSender) => WaitingTransfer,
            (Ready, OfflineUpload) => WaitingUpload,
            (UploadEnd | WaitingDownload, OfflineDownload) => WaitingDownload,
            (state, _) => return Err(TaskError::WrongState(state)),
        };
        *slot = Some(conn);
        self.last_active = now;
        Ok(())
    }

    /// Online: the receiver asks the sender for a block; remembers its seq for the answer.
    pub fn online_pull(&mut self, seq: u16, now: Instant) -> Result<(), TaskError> {
        self.enter_transfer()?;
        self.pull_seq = seq;
        self.last_active = now;
        Ok(())
    }

    /// Online: the sender answers with a block; returns the seq to put on the relayed copy.
    pub fn online_data(&mut self, user_id: u32, now: Instant) -> Result<u16, TaskError> {
        if user_id != self.from_user_id {
            return Err(TaskError::WrongUser(user_id));
        }
        self.enter_transfer()?;
        self.last_active = now;
        Ok(self.pull_seq)
    }

    fn enter_transfer(&mut self) -> Result<(), TaskError> {
        match self.state {
            TaskState::WaitingTransfer | TaskState::Transferring => {
                self.state = TaskState::Transferring;
                Ok(())
            }
            state => Err(TaskError::WrongState(state)),
        }
    }

    /// Offline: stores the next uploaded block.
    pub fn upload_block(
        &mut self,
        store: &OfflineStore,
        user_id: u32,
        offset: u32,
        data: &[u8],
        now: Instant,
    ) -> Result<Progress, TaskError> {
        if user_id != self.from_user_id {
            return Err(TaskError::WrongUser(user_id));
        }
        if !matches!(self.state, TaskState::WaitingUpload | TaskState::Uploading) {
            return Err(TaskError::WrongState(self.state));
        }
        self.check_offset(offset)?;
        let expected = self.next_block_size();
        if data.len() != expected as usize {
            return Err(TaskError::BlockSize {
                expected,
                got: data.len(),
            });
        }
        if self.state == TaskState::WaitingUpload {
            let header = OfflineHeader {
                task_id: self.id.clone(),
                from_user_id: self.from_user_id,
                to_user_id: self.to_user_id,
                create_time: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                file_name: self.file_name.clone(),
                file_size: self.file_size,
            };
            self.file = Some(store.create(&header)?);
            self.state = TaskState::Uploading;
        }
        // Uploading always holds the file; a missing one is answered as a state error rather
        // than trusted, since the PDUs driving this come from the network.
        let state = self.state;
        let file = self.file.as_mut().ok_or(TaskError::WrongState(state))?;
        file.write_all(data)?;
        self.last_active = now;
        self.advance(|task| task.state = TaskState::UploadEnd)
    }

    /// Offline: reads the next block for the downloader.
    pub fn download_block(
        &mut self,
        store: &OfflineStore,
        offset: u32,
        now: Instant,
    ) -> Result<(Vec<u8>, Progress), TaskError> {
        match self.state {
            TaskState::WaitingDownload => {
                let (_, file) = store.open(&self.id)?;
                self.file = Some(file);
                self.blocks_done = 0;
                self.state = TaskState::Downloading;
            }
            TaskState::Downloading => {}
            state => return Err(TaskError::WrongState(state)),
        }
        self.check_offset(offset)?;
        let mut data = vec![0; self.next_block_size() as usize];
        let state = self.state;
        self.file
            .as_mut()
            .ok_or(TaskError::WrongState(state))?
            .read_exact(&mut data)?;
        self.last_active = now;
        // As in the original, a finished download returns to "upload end" so that another
        // download can start; the stored file stays until its retention period ends.
        let progress = self.advance(|task| task.state = TaskState::UploadEnd)?;
        Ok((data, progress))
    }

    fn check_offset(&self, offset: u32) -> Result<(), TaskError> {
        let expected = self.next_offset();
        if offset == expected {
            Ok(())
        } else {
            Err(TaskError::Offset {
                expected,
                got: offset,
            })
        }
    }

    fn advance(&mut self, finish: impl FnOnce(&mut Self)) -> Result<Progress, TaskError> {
        self.blocks_done += 1;
        if self.blocks_done < self.block_count() {
            return Ok(Progress::Next {
                offset: self.next_offset(),
                size: self.next_block_size(),
            });
        }
        if let Some(file) = self.file.take() {
            file.sync_all()?;
        }
        finish(self);
        Ok(Progress::Done)
    }

    /// The connection `conn` of this task closed.
    pub fn release(&mut self, conn: ConnHandle) -> Release {
        let mut release = Release::default();
        if self.from_conn == Some(conn) {
            self.from_conn = None;
        } else if self.to_conn == Some(conn) {
            self.to_conn = None;
        } else {
            return release;
        }
        match self.mode {
            TransferMode::Online => {
                self.state = TaskState::Invalid;
                release.close_peer = self.from_conn.or(self.to_conn);
                release.delete = self.from_conn.is_none() && self.to_conn.is_none();
            }
            TransferMode::Offline => {
                self.file = None;
                if self.state >= TaskState::UploadEnd {
                    self.state = TaskState::WaitingDownload;
                }
                release.discard_upload = self.state == TaskState::Uploading;
                // A task whose uploader has not started yet stays for a retry of the same
                // connection set-up, back in Ready so that the retry's login fits (the
                // original kept it in state 7, where no login fits); everything else is
                // reloadable from disk or dead.
                release.delete = self.state != TaskState::WaitingUpload;
                if self.state == TaskState::WaitingUpload {
                    self.state = TaskState::Ready;
                }
            }
        }
        release
    }

    /// Both connections, for closing them when the task expires.
    pub fn conns(&self) -> impl Iterator<Item = ConnHandle> {
        self.from_conn.into_iter().chain(self.to_conn)
    }
}

/// The live tasks by id, and how many of them each sender created.
#[derive(Debug, Default)]
pub struct TaskTable {
    tasks: HashMap<String, Task>,
    per_sender: HashMap<u32, usize>,
}

impl TaskTable {
    /// Adds a task (replacing one with the same id).
    pub fn insert(&mut self, task: Task) {
        if task.created {
            *self.per_sender.entry(task.from_user_id).or_default() += 1;
        }
        if let Some(old) = self.tasks.insert(task.id.clone(), task) {
            self.forget(&old);
        }
    }

    /// The task `id`.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Task> {
        self.tasks.get_mut(id)
    }

    /// The task `id`, read-only.
    pub fn get(&self, id: &str) -> Option<&Task> {
        self.tasks.get(id)
    }

    /// Removes the task `id`.
    pub fn remove(&mut self, id: &str) -> Option<Task> {
        let task = self.tasks.remove(id)?;
        self.forget(&task);
        Some(task)
    }

    /// Live tasks `user_id` created as sender (reloaded downloads do not count).
    pub fn sender_tasks(&self, user_id: u32) -> usize {
        self.per_sender.get(&user_id).copied().unwrap_or(0)
    }

    fn forget(&mut self, task: &Task) {
        if !task.created {
            return;
        }
        if let Some(n) = self.per_sender.get_mut(&task.from_user_id) {
            *n -= 1;
            if *n == 0 {
                self.per_sender.remove(&task.from_user_id);
            }
        }
    }

    /// Number of live tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether there are no tasks.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Removes and returns the tasks idle for longer than `timeout`.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<Task> {
        let ids: Vec<String> = self
            .tasks
            .values()
            .filter(|t| t.is_idle(now, timeout))
            .map(|t| t.id.clone())
            .collect();
        ids.iter().filter_map(|id| self.remove(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FROM: u32 = 10;
    const TO: u32 = 20;
    const ID: &str = "0f8e2c4a-9b1d-4e6f-8a2b-3c4d5e6f7a8b";

    fn task(mode: TransferMode, size: u32) -> Task {
        Task::new(
            ID.into(),
            FROM,
            TO,
            "a.txt".into(),
            size,
            mode,
            Instant::now(),
        )
    }

    fn h(n: usize) -> ConnHandle {
        ConnHandle(n)
    }

    #[test]
    fn block_arithmetic() {
        let t = task(TransferMode::Offline, 70_000);
        assert_eq!(t.block_count(), 3);
        assert_eq!((t.next_offset(), t.next_block_size()), (0, BLOCK_SIZE));
        let mut t = t;
        t.blocks_done = 2;
        assert_eq!((t.next_offset(), t.next_block_size()), (65_536, 4_464));
        let exact = task(TransferMode::Offline, 65_536);
        assert_eq!(exact.block_count(), 2);
        let empty = task(TransferMode::Offline, 0);
        assert_eq!((empty.block_count(), empty.next_block_size()), (1, 0));
    }

    #[test]
    fn online_logins_in_either_order_reach_waiting_transfer() {
        let now = Instant::now();
        let mut t = task(TransferMode::Online, 1);
        t.login(FROM, FileRole::RealtimeSender, h(1), now).unwrap();
        assert_eq!(t.state(), TaskState::WaitingReceiver);
        t.login(TO, FileRole::RealtimeRecver, h(2), now).unwrap();
        assert_eq!(t.state(), TaskState::WaitingTransfer);

        let mut t = task(TransferMode::Online, 1);
        t.login(TO, FileRole::RealtimeRecver, h(2), now).unwrap();
        assert_eq!(t.state(), TaskState::WaitingSender);
        t.login(FROM, FileRole::RealtimeSender, h(1), now).unwrap();
        assert_eq!(t.state(), TaskState::WaitingTransfer);
        assert_eq!((t.from_conn(), t.to_conn()), (Some(h(1)), Some(h(2))));
    }

    #[test]
    fn logins_that_do_not_fit_are_refused() {
        let now = Instant::now();
        let mut t = task(TransferMode::Online, 1);
        assert!(t.login(TO, FileRole::RealtimeSender, h(1), now).is_err());
        assert!(t.login(FROM, FileRole::OfflineUpload, h(1), now).is_err());
        t.login(FROM, FileRole::RealtimeSender, h(1), now).unwrap();
        // A second sender cannot take over the task (D-FS-8).
        assert!(matches!(
            t.login(FROM, FileRole::RealtimeSender, h(3), now),
            Err(TaskError::WrongState(_))
        ));
        assert_eq!(t.from_conn(), Some(h(1)));

        let mut t = task(TransferMode::Offline, 1);
        assert!(t.login(TO, FileRole::OfflineDownload, h(2), now).is_err());
        t.login(FROM, FileRole::OfflineUpload, h(1), now).unwrap();
        // The receiver cannot join before the upload finished (D-FS-8).
        assert!(matches!(
            t.login(TO, FileRole::OfflineDownload, h(2), now),
            Err(TaskError::WrongState(TaskState::WaitingUpload))
        ));
    }

    #[test]
    fn online_pull_seq_is_remembered_for_the_answer() {
        let now = Instant::now();
        let mut t = task(TransferMode::Online, 1);
        assert!(t.online_pull(5, now).is_err());
        t.login(FROM, FileRole::RealtimeSender, h(1), now).unwrap();
        t.login(TO, FileRole::RealtimeRecver, h(2), now).unwrap();
        t.online_pull(77, now).unwrap();
        assert_eq!(t.state(), TaskState::Transferring);
        assert!(matches!(
            t.online_data(TO, now),
            Err(TaskError::WrongUser(TO))
        ));
        assert_eq!(t.online_data(FROM, now).unwrap(), 77);
    }

    #[test]
    fn closing_one_online_side_invalidates_and_closes_the_other() {
        let now = Instant::now();
        let mut t = task(TransferMode::Online, 1);
        t.login(FROM, FileRole::RealtimeSender, h(1), now).unwrap();
        t.login(TO, FileRole::RealtimeRecver, h(2), now).unwrap();
        assert_eq!(t.release(h(9)), Release::default());
        assert_eq!(
            t.release(h(1)),
            Release {
                close_peer: Some(h(2)),
                delete: false,
                discard_upload: false
            }
        );
        assert_eq!(t.state(), TaskState::Invalid);
        assert!(t.release(h(2)).delete);
    }

    #[test]
    fn offline_upload_then_download_through_the_store() {
        let dir = std::env::temp_dir().join(format!("fs-task-{}", std::process::id()));
        let store = OfflineStore::new(&dir);
        let now = Instant::now();
        let data: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        let mut t = task(TransferMode::Offline, data.len() as u32);
        t.login(FROM, FileRole::OfflineUpload, h(1), now).unwrap();
        assert!(matches!(
            t.upload_block(&store, FROM, 0, &data[..100], now),
            Err(TaskError::BlockSize { .. })
        ));
        assert!(matches!(
            t.upload_block(&store, FROM, 5, &data[..32_768], now),
            Err(TaskError::Offset {
                expected: 0,
                got: 5
            })
        ));
        assert_eq!(
            t.upload_block(&store, FROM, 0, &data[..32_768], now)
                .unwrap(),
            Progress::Next {
                offset: 32_768,
                size: 7_232
            }
        );
        assert_eq!(
            t.upload_block(&store, FROM, 32_768, &data[32_768..], now)
                .unwrap(),
            Progress::Done
        );
        assert_eq!(t.state(), TaskState::UploadEnd);
        assert!(t.release(h(1)).delete);

        let (header, _) = store.open(ID).unwrap();
        let mut d = Task::from_stored(header, now);
        d.login(TO, FileRole::OfflineDownload, h(2), now).unwrap();
        let (first, p) = d.download_block(&store, 0, now).unwrap();
        assert_eq!(
            (first.as_slice(), p),
            (
                &data[..32_768],
                Progress::Next {
                    offset: 32_768,
                    size: 7_232
                }
            )
        );
        assert!(d.download_block(&store, 0, now).is_err());
        let (last, p) = d.download_block(&store, 32_768, now).unwrap();
        assert_eq!((last.as_slice(), p), (&data[32_768..], Progress::Done));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn aborted_upload_is_discarded_and_waiting_upload_is_kept() {
        let dir = std::env::temp_dir().join(format!("fs-abort-{}", std::process::id()));
        let store = OfflineStore::new(&dir);
        let now = Instant::now();
        let mut t = task(TransferMode::Offline, 40_000);
        t.login(FROM, FileRole::OfflineUpload, h(1), now).unwrap();
        let waiting = t.release(h(1));
        assert!(!waiting.delete && !waiting.discard_upload);
        // The uploader can come back.
        assert_eq!(t.state(), TaskState::Ready);
        t.login(FROM, FileRole::OfflineUpload, h(3), now).unwrap();

        let mut t = task(TransferMode::Offline, 40_000);
        t.login(FROM, FileRole::OfflineUpload, h(1), now).unwrap();
        t.upload_block(&store, FROM, 0, &[0; 32_768], now).unwrap();
        let aborted = t.release(h(1));
        assert!(aborted.delete && aborted.discard_upload);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn idle_tasks_expire() {
        let start = Instant::now();
        let mut table = TaskTable::default();
        table.insert(task(TransferMode::Online, 1));
        assert!(table.expire(start, Duration::from_secs(10)).is_empty());
        let later = start + Duration::from_secs(11);
        let expired = table.expire(later, Duration::from_secs(10));
        assert_eq!(expired.len(), 1);
        assert!(table.is_empty());
        assert_eq!(table.sender_tasks(FROM), 0);
    }

    #[test]
    fn created_tasks_count_against_their_sender_until_removed() {
        let now = Instant::now();
        let mut table = TaskTable::default();
        let other = "1f8e2c4a-9b1d-4e6f-8a2b-3c4d5e6f7a8b";
        table.insert(task(TransferMode::Online, 1));
        let mut second = task(TransferMode::Offline, 1);
        second.id = other.into();
        table.insert(second);
        assert_eq!((table.sender_tasks(FROM), table.sender_tasks(TO)), (2, 0));
        // Re-inserting the same id replaces, it does not add.
        table.insert(task(TransferMode::Online, 1));
        assert_eq!(table.sender_tasks(FROM), 2);
        table.remove(ID);
        assert_eq!(table.sender_tasks(FROM), 1);
        table.remove(other);
        assert_eq!(table.sender_tasks(FROM), 0);
        let header = OfflineHeader {
            task_id: ID.into(),
            from_user_id: FROM,
            to_user_id: TO,
            create_time: 0,
            file_name: String::new(),
            file_size: 1,
        };
        table.insert(Task::from_stored(header, now));
        assert_eq!(
            table.sender_tasks(FROM),
            0,
            "a reloaded download is not counted"
        );
        assert_eq!(table.len(), 1);
    }
}
