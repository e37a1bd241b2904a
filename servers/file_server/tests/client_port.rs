//! The client port: task login, online relay, offline upload and download (BEHAVIOUR §5.3).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::transfer::{
    DONE, DOWNLOAD, OFFLINE, ONLINE, PEER_READY, RECVER, SENDER, UPLOAD, download, file_data,
    login, upload,
};
use common::{PduConn, config, create_task, start, temp_dir};
use teamtalk_proto::pb::file::{ImFilePullDataReq, ImFilePullDataRsp, ImFileState};
use teamtalk_proto::{CommandId, Pdu};

#[test]
fn online_transfer_relays_blocks_and_rewrites_the_answer_seq() {
    let dir = temp_dir("online");
    let server = start(config(&dir));
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let task = create_task(&mut msg, 100, 200, 10, ONLINE);

    let mut sender = PduConn::connect(client_addr);
    assert_eq!(login(&mut sender, 100, &task, SENDER, 1), 0);
    let mut receiver = PduConn::connect(client_addr);
    assert_eq!(login(&mut receiver, 200, &task, RECVER, 2), 0);
    let (pdu, ready): (_, ImFileState) = receiver.recv_msg(CommandId::FileState);
    assert_eq!(pdu.header.seq_num, 0);
    assert_eq!(
        (ready.state, ready.user_id, ready.task_id.as_str()),
        (PEER_READY, 100, task.as_str())
    );

    let pull = Pdu::new(
        CommandId::FilePullDataReq,
        77,
        &ImFilePullDataReq {
            task_id: task.clone(),
            user_id: 200,
            trans_mode: ONLINE,
            offset: 0,
            data_size: 10,
        },
    );
    receiver.send(&pull);
    assert_eq!(
        sender.recv_raw(),
        pull.encode(),
        "pull request relayed unchanged"
    );

    let mut block = Pdu::new(
        CommandId::FilePullDataRsp,
        5,
        &ImFilePullDataRsp {
            result_code: 0,
            task_id: task.clone(),
            user_id: 100,
            offset: 0,
            file_data: b"0123456789".to_vec(),
        },
    );
    block.header.version = 2;
    sender.send(&block);
    let relayed = receiver.recv_raw();
    let mut expected = block.clone();
    expected.header.seq_num = 77;
    assert_eq!(relayed, expected.encode(), "only the seq is rewritten");

    let done = Pdu::new(
        CommandId::FileState,
        9,
        &ImFileState {
            state: DONE,
            task_id: task.clone(),
            user_id: 200,
        },
    );
    receiver.send(&done);
    assert_eq!(sender.recv_raw(), done.encode(), "state relayed unchanged");
    receiver.expect_closed();
    sender.expect_closed();
    server.shutdown().unwrap();
}

#[test]
fn receiver_logging_in_first_gets_peer_ready_when_the_sender_joins() {
    let dir = temp_dir("online-rev");
    let server = start(config(&dir));
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let task = create_task(&mut msg, 1, 2, 10, ONLINE);
    let mut receiver = PduConn::connect(client_addr);
    assert_eq!(login(&mut receiver, 2, &task, RECVER, 1), 0);
    let mut sender = PduConn::connect(client_addr);
    assert_eq!(login(&mut sender, 1, &task, SENDER, 2), 0);
    let (_, ready): (_, ImFileState) = receiver.recv_msg(CommandId::FileState);
    assert_eq!((ready.state, ready.user_id), (PEER_READY, 1));
    sender.expect_alive();
    // Losing one side ends the other.
    drop(sender);
    receiver.expect_closed();
    server.shutdown().unwrap();
}

#[test]
fn offline_file_round_trips_and_downloads_again_with_the_same_bytes() {
    let dir = temp_dir("offline");
    let server = start(config(&dir));
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let data = file_data(70_000);
    let task = create_task(&mut msg, 31, 32, data.len() as u32, OFFLINE);

    upload(&mut PduConn::connect(client_addr), 31, &task, &data);
    let stored = dir.join(&task[..2]).join(&task);
    let bytes = std::fs::read(&stored).unwrap();
    assert_eq!(bytes.len(), 960 + data.len());
    assert_eq!(&bytes[..36], task.as_bytes());
    assert_eq!(&bytes[128..131], b"31\0");
    assert_eq!(&bytes[192..195], b"32\0");
    assert_eq!(&bytes[896..902], b"70000\0");
    assert_eq!(&bytes[960..], data.as_slice());

    // Only the receiver may download.
    let mut stranger = PduConn::connect(client_addr);
    assert_eq!(login(&mut stranger, 31, &task, DOWNLOAD, 5), 1);
    stranger.expect_closed();

    // The receiver's PC and phone can both fetch it: the file stays until its record is
    // deleted or its retention period ends, as in the original.
    for round in 0..3 {
        let (got, done_user) = download(&mut PduConn::connect(client_addr), 32, &task, data.len());
        assert!(got == data, "download {round} returned other bytes");
        assert_eq!(done_user, 31, "DONE names the uploader");
    }
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        bytes,
        "stored file unchanged"
    );
    server.shutdown().unwrap();
}

#[test]
fn stored_file_survives_a_restart() {
    let dir = temp_dir("restart");
    let data = file_data(1000);
    let task = {
        let server = start(config(&dir));
        let mut msg = PduConn::connect(server.local_addrs().msg_server);
        let task = create_task(&mut msg, 41, 42, data.len() as u32, OFFLINE);
        upload(
            &mut PduConn::connect(server.local_addrs().client[0]),
            41,
            &task,
            &data,
        );
        server.shutdown().unwrap();
        task
    };
    let server = start(config(&dir));
    let (got, _) = download(
        &mut PduConn::connect(server.local_addrs().client[0]),
        42,
        &task,
        data.len(),
    );
    assert_eq!(got, data);
    server.shutdown().unwrap();
}

#[test]
fn empty_file_uploads_and_downloads_as_one_empty_block() {
    let dir = temp_dir("empty");
    let server = start(config(&dir));
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let task = create_task(&mut msg, 51, 52, 0, OFFLINE);
    upload(
        &mut PduConn::connect(server.local_addrs().client[0]),
        51,
        &task,
        &[],
    );
    let (got, _) = download(
        &mut PduConn::connect(server.local_addrs().client[0]),
        52,
        &task,
        0,
    );
    assert!(got.is_empty());
    server.shutdown().unwrap();
}

#[test]
fn receiver_cannot_join_before_the_upload_finished() {
    let dir = temp_dir("early");
    let server = start(config(&dir));
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let task = create_task(&mut msg, 61, 62, 100, OFFLINE);
    let mut uploader = PduConn::connect(client_addr);
    assert_eq!(login(&mut uploader, 61, &task, UPLOAD, 1), 0);
    let (_, first): (_, ImFilePullDataReq) = uploader.recv_msg(CommandId::FilePullDataReq);
    assert_eq!((first.offset, first.data_size), (0, 100));

    let mut early = PduConn::connect(client_addr);
    assert_eq!(login(&mut early, 62, &task, DOWNLOAD, 2), 1);
    early.expect_closed();
    // A second uploader cannot take over either.
    let mut second = PduConn::connect(client_addr);
    assert_eq!(login(&mut second, 61, &task, UPLOAD, 3), 1);
    second.expect_closed();
    uploader.expect_alive();
    server.shutdown().unwrap();
}

#[test]
fn block_of_the_wrong_size_closes_the_uploader_and_discards_the_partial_file() {
    let dir = temp_dir("short");
    let server = start(config(&dir));
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let task = create_task(&mut msg, 71, 72, 40_000, OFFLINE);
    let mut uploader = PduConn::connect(client_addr);
    assert_eq!(login(&mut uploader, 71, &task, UPLOAD, 1), 0);
    let _: (_, ImFilePullDataReq) = uploader.recv_msg(CommandId::FilePullDataReq);
    let block = |offset: u32, len: usize| ImFilePullDataRsp {
        result_code: 0,
        task_id: task.clone(),
        user_id: 71,
        offset,
        file_data: vec![1; len],
    };
    uploader.send_msg(CommandId::FilePullDataRsp, 1, &block(0, 32_768));
    let (_, next): (_, ImFilePullDataReq) = uploader.recv_msg(CommandId::FilePullDataReq);
    assert_eq!((next.offset, next.data_size), (32_768, 7_232));
    assert!(dir.join(&task[..2]).join(&task).exists());
    uploader.send_msg(CommandId::FilePullDataRsp, 2, &block(32_768, 100));
    uploader.expect_closed();
    msg.expect_alive();
    assert!(!dir.join(&task[..2]).join(&task).exists());
    let mut late = PduConn::connect(client_addr);
    assert_eq!(login(&mut late, 72, &task, DOWNLOAD, 3), 1);
    server.shutdown().unwrap();
}

#[test]
fn unknown_tasks_and_path_like_ids_are_refused() {
    let dir = temp_dir("unknown");
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let server = start(config(&dir.join("store")));
    let client_addr = server.local_addrs().client[0];
    for (task, role) in [
        ("0f8e2c4a-9b1d-4e6f-8a2b-3c4d5e6f7a8b", DOWNLOAD),
        ("0f8e2c4a-9b1d-4e6f-8a2b-3c4d5e6f7a8b", SENDER),
        ("../outside/x", DOWNLOAD),
        ("", UPLOAD),
    ] {
        let mut conn = PduConn::connect(client_addr);
        assert_eq!(login(&mut conn, 1, task, role, 1), 1, "{task}");
        conn.expect_closed();
    }
    server.shutdown().unwrap();
}

#[test]
fn commands_before_login_are_ignored() {
    let dir = temp_dir("unbound");
    let server = start(config(&dir));
    let mut conn = PduConn::connect(server.local_addrs().client[0]);
    let task = "0f8e2c4a-9b1d-4e6f-8a2b-3c4d5e6f7a8b".to_owned();
    conn.send_msg(
        CommandId::FilePullDataReq,
        1,
        &ImFilePullDataReq {
            task_id: task.clone(),
            user_id: 1,
            trans_mode: OFFLINE,
            offset: 0,
            data_size: 1,
        },
    );
    conn.send_msg(
        CommandId::FileState,
        2,
        &ImFileState {
            state: DONE,
            task_id: task,
            user_id: 1,
        },
    );
    conn.send(&Pdu::from_body(
        CommandId::FileLoginReq,
        3,
        vec![0xff, 0x01],
    ));
    conn.expect_alive();
    server.shutdown().unwrap();
}

#[test]
fn idle_tasks_expire_and_their_connections_close() {
    let dir = temp_dir("expire");
    let mut cfg = config(&dir);
    cfg.task_timeout = Duration::from_secs(1);
    let server = start(cfg);
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let task = create_task(&mut msg, 81, 82, 10, ONLINE);
    let mut sender = PduConn::connect(client_addr);
    assert_eq!(login(&mut sender, 81, &task, SENDER, 1), 0);
    // Nothing happens on the task: the sweep drops it and closes its side.
    sender.expect_closed();
    let mut receiver = PduConn::connect(client_addr);
    assert_eq!(login(&mut receiver, 82, &task, RECVER, 2), 1);
    server.shutdown().unwrap();
}

#[test]
fn file_state_for_another_user_or_task_closes_the_sender_but_bad_state_values_do_not() {
    let dir = temp_dir("state-mismatch");
    let server = start(config(&dir));
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let task = create_task(&mut msg, 31, 32, 10, ONLINE);
    let mut sender = PduConn::connect(client_addr);
    assert_eq!(login(&mut sender, 31, &task, SENDER, 1), 0);
    let mut receiver = PduConn::connect(client_addr);
    assert_eq!(login(&mut receiver, 32, &task, RECVER, 2), 0);
    let (_, ready): (_, ImFileState) = receiver.recv_msg(CommandId::FileState);
    assert_eq!(ready.state, PEER_READY);

    // A state value outside CANCEL/REFUSE/DONE is ignored (KNOWN_DEFECTS D-FS-7).
    let ready_again = ImFileState {
        state: PEER_READY,
        task_id: task.clone(),
        user_id: 31,
    };
    sender.send_msg(CommandId::FileState, 3, &ready_again);
    sender.expect_alive();

    // A DONE naming another user is not relayed, and ends the sender's connection as in the
    // original; the receiver loses its peer and is closed too.
    let forged = ImFileState {
        state: DONE,
        task_id: task.clone(),
        user_id: 32,
    };
    sender.send_msg(CommandId::FileState, 4, &forged);
    sender.expect_closed();
    receiver.expect_closed();
    server.shutdown().unwrap();
}
