//! The offline store's bounds: retention of stored files, the disk quota, and write failures
//! (KNOWN_DEFECTS D-FS-3).

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::transfer::{
    DOWNLOAD, OFFLINE, UPLOAD, download, file_data, login, upload, upload_blocks,
};
use common::{PduConn, config, create_task, eventually, request_task, start, temp_dir};
use file_server::offline::{OfflineHeader, OfflineStore};
use teamtalk_proto::CommandId;
use teamtalk_proto::pb::file::{ImFilePullDataReq, ImFilePullDataRsp, ImFileState};

const DAY: Duration = Duration::from_secs(86_400);

fn header(task_id: &str, size: u32) -> OfflineHeader {
    OfflineHeader {
        task_id: task_id.into(),
        from_user_id: 1,
        to_user_id: 2,
        create_time: 1_431_000_000,
        file_name: String::new(),
        file_size: size,
    }
}

/// Answers the server's block requests with `data` until the connection closes; returns
/// whether the server announced DONE (it must not when the upload fails).
fn upload_until_closed(conn: &mut PduConn, user_id: u32, task_id: &str, data: &[u8]) -> bool {
    assert_eq!(login(conn, user_id, task_id, UPLOAD, 1), 0);
    loop {
        let Some(pdu) = conn.try_recv() else {
            return false;
        };
        if pdu.command() == Some(CommandId::FileState) {
            let state: ImFileState = pdu.parse().unwrap();
            return state.state == common::transfer::DONE;
        }
        let req: ImFilePullDataReq = pdu.parse().unwrap();
        let block = &data[req.offset as usize..(req.offset + req.data_size) as usize];
        let rsp = ImFilePullDataRsp {
            result_code: 0,
            task_id: task_id.into(),
            user_id,
            offset: req.offset,
            file_data: block.to_vec(),
        };
        let pdu = teamtalk_proto::Pdu::new(CommandId::FilePullDataRsp, 2, &rsp);
        if conn.stream.write_all(&pdu.encode()).is_err() {
            return false;
        }
    }
}

#[test]
fn stored_file_is_deleted_once_its_retention_period_is_over() {
    let dir = temp_dir("retention");
    let mut cfg = config(&dir);
    cfg.limits.offline_retention = Duration::from_secs(2);
    let server = start(cfg);
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let data = file_data(5_000);
    let task = create_task(&mut msg, 11, 12, data.len() as u32, OFFLINE);
    upload(&mut PduConn::connect(client_addr), 11, &task, &data);
    let stored = dir.join(&task[..2]).join(&task);
    assert!(stored.exists());
    assert!(
        eventually(|| !stored.exists()),
        "the sweep deletes the file after its retention period"
    );
    let mut late = PduConn::connect(client_addr);
    assert_eq!(login(&mut late, 12, &task, DOWNLOAD, 1), 1);
    late.expect_closed();
    server.shutdown().unwrap();
}

#[test]
fn start_up_deletes_expired_and_incomplete_files_and_keeps_the_rest() {
    let dir = temp_dir("startup");
    let store = OfflineStore::new(dir.to_path_buf());
    let fresh = "0a8e2c4a-9b1d-4e6f-8a2b-3c4d5e6f7a8b";
    let old = "0b8e2c4a-9b1d-4e6f-8a2b-3c4d5e6f7a8b";
    let partial = "0c8e2c4a-9b1d-4e6f-8a2b-3c4d5e6f7a8b";
    store
        .create(&header(fresh, 3))
        .unwrap()
        .write_all(b"new")
        .unwrap();
    let old_file = store.create(&header(old, 3)).unwrap();
    (&old_file).write_all(b"old").unwrap();
    old_file.set_modified(SystemTime::now() - 8 * DAY).unwrap();
    drop(old_file);
    store
        .create(&header(partial, 3))
        .unwrap()
        .write_all(b"p")
        .unwrap();

    let server = start(config(&dir));
    // The start-up sweep runs before the server accepts anything.
    assert!(store.path(fresh).unwrap().exists(), "a fresh file is kept");
    assert!(!store.path(old).unwrap().exists(), "past the 7-day default");
    assert!(
        !store.path(partial).unwrap().exists(),
        "left by an interrupted upload"
    );
    let (got, _) = download(
        &mut PduConn::connect(server.local_addrs().client[0]),
        2,
        fresh,
        3,
    );
    assert_eq!(got, b"new");
    server.shutdown().unwrap();
}

#[test]
fn upload_that_would_pass_the_disk_quota_is_refused_and_leaves_nothing() {
    let dir = temp_dir("quota");
    let mut cfg = config(&dir);
    cfg.limits.offline_disk_quota = 3_000;
    let server = start(cfg);
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let data = file_data(1_000);
    let first = create_task(&mut msg, 21, 22, 1_000, OFFLINE);
    upload(&mut PduConn::connect(client_addr), 21, &first, &data);

    // 960 + 1000 bytes are stored; another such file no longer fits.
    let refused = request_task(&mut msg, 21, 22, "b.bin", 1_000, OFFLINE);
    assert_eq!(
        (refused.result_code, refused.task_id.as_deref()),
        (1, Some(""))
    );

    // Two small files fit one at a time: the first upload reserves its room at login, so the
    // second uploader is refused before writing anything.
    let small = file_data(50);
    let a = create_task(&mut msg, 21, 22, 50, OFFLINE);
    let b = create_task(&mut msg, 23, 22, 50, OFFLINE);
    let mut uploader_a = PduConn::connect(client_addr);
    assert_eq!(login(&mut uploader_a, 21, &a, UPLOAD, 1), 0);
    let mut uploader_b = PduConn::connect(client_addr);
    assert_eq!(login(&mut uploader_b, 23, &b, UPLOAD, 2), 1);
    uploader_b.expect_closed();
    assert!(
        !dir.join(&b[..2]).join(&b).exists(),
        "nothing written for the refused upload"
    );
    drop(uploader_a);
    // The abandoned login gives its room back: the same upload then completes.
    let mut retry = None;
    assert!(eventually(|| {
        let mut conn = PduConn::connect(client_addr);
        let ok = login(&mut conn, 21, &a, UPLOAD, 3) == 0;
        retry = ok.then_some(conn);
        ok
    }));
    upload_blocks(&mut retry.unwrap(), 21, &a, &small);
    let (got, _) = download(&mut PduConn::connect(client_addr), 22, &first, data.len());
    assert_eq!(got, data);
    server.shutdown().unwrap();
}

#[test]
fn write_failure_ends_the_upload_cleanly_and_gives_its_room_back() {
    let dir = temp_dir("write-error");
    let mut cfg = config(&dir);
    let data = file_data(40_000);
    // Room for exactly one such file: a leaked reservation would refuse the retry.
    cfg.limits.offline_disk_quota = 960 + 40_000;
    let server = start(cfg);
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let task = create_task(&mut msg, 31, 32, data.len() as u32, OFFLINE);
    // Every write to /dev/full fails with "no space left on device", like a full disk.
    let path = dir.join(&task[..2]).join(&task);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/dev/full", &path).unwrap();

    let mut uploader = PduConn::connect(client_addr);
    assert!(!upload_until_closed(&mut uploader, 31, &task, &data));
    assert!(
        eventually(|| fs::symlink_metadata(&path).is_err()),
        "the failed file is removed"
    );
    msg.expect_alive();
    let retry = create_task(&mut msg, 31, 32, data.len() as u32, OFFLINE);
    upload(&mut PduConn::connect(client_addr), 31, &retry, &data);
    let (got, _) = download(&mut PduConn::connect(client_addr), 32, &retry, data.len());
    assert!(got == data);
    server.shutdown().unwrap();
}

/// A real full file system: a 64 KiB tmpfs (needs the right to mount; skipped otherwise, the
/// quota and /dev/full tests above cover the same paths).
#[test]
fn full_file_system_fails_the_upload_and_removes_the_partial_file() {
    let dir = temp_dir("tmpfs");
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&*dir)
        .output();
    match mount {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "SKIPPED full_file_system test: cannot mount a tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIPPED full_file_system test: cannot run mount: {e}");
            return;
        }
    }
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&dir);

    let server = start(config(&dir));
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let data = file_data(200_000);
    let task = create_task(&mut msg, 41, 42, data.len() as u32, OFFLINE);
    let mut uploader = PduConn::connect(client_addr);
    assert!(!upload_until_closed(&mut uploader, 41, &task, &data));
    let path = dir.join(&task[..2]).join(&task);
    assert!(eventually(|| !path.exists()), "the partial file is removed");
    msg.expect_alive();
    // The server keeps serving: a file that fits still goes through.
    let small = file_data(1_000);
    let fits = create_task(&mut msg, 41, 42, 1_000, OFFLINE);
    upload(&mut PduConn::connect(client_addr), 41, &fits, &small);
    let (got, _) = download(&mut PduConn::connect(client_addr), 42, &fits, small.len());
    assert_eq!(got, small);
    server.shutdown().unwrap();
}

/// The value of `series` in a scrape of the endpoint at `addr`.
fn metric(addr: std::net::SocketAddr, series: &str) -> f64 {
    let (status, body) = netlib::metrics::scrape(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    netlib::metrics::sample(&body, series).unwrap_or_else(|| panic!("{series} missing:\n{body}"))
}

#[test]
fn metrics_count_transfers_and_file_bytes() {
    let dir = temp_dir("metrics");
    let mut cfg = config(&dir);
    cfg.limits.offline_disk_quota = 3_000;
    cfg.metrics = Some(netlib::MetricsConf::loopback());
    let server = start(cfg);
    let m = server.metrics_addr().unwrap();
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let data = file_data(1_000);
    let task = create_task(&mut msg, 21, 22, 1_000, OFFLINE);
    assert_eq!(metric(m, "teamtalk_file_tasks"), 1.0);
    assert_eq!(metric(m, "teamtalk_connections{kind=\"msg_server\"}"), 1.0);
    upload(&mut PduConn::connect(client_addr), 21, &task, &data);
    assert_eq!(
        metric(m, "teamtalk_file_transfers_total{event=\"created\"}"),
        1.0
    );
    assert_eq!(
        metric(m, "teamtalk_file_transfers_total{event=\"offline_stored\"}"),
        1.0
    );
    assert_eq!(
        metric(m, "teamtalk_file_bytes_total{path=\"offline_uploaded\"}"),
        1_000.0
    );
    // Over the quota now: refused and counted.
    request_task(&mut msg, 21, 22, "b.bin", 1_000, OFFLINE);
    assert_eq!(
        metric(m, "teamtalk_file_transfers_total{event=\"refused\"}"),
        1.0
    );
    assert_eq!(scrape_status(m, "/readyz"), 200);
}

fn scrape_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    netlib::metrics::scrape(addr, path).unwrap().0
}
