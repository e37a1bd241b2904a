//! Client-side steps of a transfer: login, a whole offline upload, a whole offline download.

use teamtalk_proto::CommandId;
use teamtalk_proto::pb::file::{
    ImFileLoginReq, ImFileLoginRsp, ImFilePullDataReq, ImFilePullDataRsp, ImFileState,
};

use super::PduConn;

pub const ONLINE: i32 = 1;
pub const OFFLINE: i32 = 2;
pub const SENDER: i32 = 1;
pub const RECVER: i32 = 2;
pub const UPLOAD: i32 = 3;
pub const DOWNLOAD: i32 = 4;
pub const PEER_READY: i32 = 0;
pub const DONE: i32 = 3;

pub fn login(conn: &mut PduConn, user_id: u32, task_id: &str, role: i32, seq: u16) -> u32 {
    let req = ImFileLoginReq {
        user_id,
        task_id: task_id.into(),
        file_role: role,
    };
    conn.send_msg(CommandId::FileLoginReq, seq, &req);
    let (pdu, rsp): (_, ImFileLoginRsp) = conn.recv_msg(CommandId::FileLoginRes);
    assert_eq!(pdu.header.seq_num, seq);
    assert_eq!(rsp.task_id, task_id);
    rsp.result_code
}

pub fn file_data(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 7 % 251) as u8).collect()
}

/// Uploads `data` as the uploader of `task_id`, answering the server's block requests.
pub fn upload(conn: &mut PduConn, user_id: u32, task_id: &str, data: &[u8]) {
    assert_eq!(login(conn, user_id, task_id, UPLOAD, 11), 0);
    upload_blocks(conn, user_id, task_id, data);
}

/// The block exchange of an upload on a connection already logged in as its uploader.
pub fn upload_blocks(conn: &mut PduConn, user_id: u32, task_id: &str, data: &[u8]) {
    loop {
        let pdu = conn.recv();
        if pdu.command() == Some(CommandId::FileState) {
            let state: ImFileState = pdu.parse().unwrap();
            assert_eq!((state.state, state.user_id), (DONE, user_id));
            assert_eq!(pdu.header.seq_num, 0);
            break;
        }
        let req: ImFilePullDataReq = pdu.parse().unwrap();
        assert_eq!(pdu.header.seq_num, 0);
        assert_eq!(
            (req.task_id.as_str(), req.user_id, req.trans_mode),
            (task_id, user_id, OFFLINE)
        );
        let block = &data[req.offset as usize..(req.offset + req.data_size) as usize];
        let rsp = ImFilePullDataRsp {
            result_code: 0,
            task_id: task_id.into(),
            user_id,
            offset: req.offset,
            file_data: block.to_vec(),
        };
        conn.send_msg(CommandId::FilePullDataRsp, 500, &rsp);
    }
    conn.expect_closed();
}

/// Downloads the file of `task_id` as `user_id`; returns the data and the DONE state's user.
pub fn download(conn: &mut PduConn, user_id: u32, task_id: &str, size: usize) -> (Vec<u8>, u32) {
    assert_eq!(login(conn, user_id, task_id, DOWNLOAD, 21), 0);
    let mut data = Vec::new();
    let mut seq = 300;
    while data.len() < size || data.is_empty() && size == 0 {
        let req = ImFilePullDataReq {
            task_id: task_id.into(),
            user_id,
            trans_mode: OFFLINE,
            offset: data.len() as u32,
            data_size: 32_768,
        };
        seq += 1;
        conn.send_msg(CommandId::FilePullDataReq, seq, &req);
        let (pdu, rsp): (_, ImFilePullDataRsp) = conn.recv_msg(CommandId::FilePullDataRsp);
        assert_eq!(pdu.header.seq_num, seq);
        assert_eq!((rsp.result_code, rsp.offset), (0, req.offset));
        data.extend_from_slice(&rsp.file_data);
        if size == 0 {
            break;
        }
    }
    let (pdu, state): (_, ImFileState) = conn.recv_msg(CommandId::FileState);
    assert_eq!((pdu.header.seq_num, state.state), (0, DONE));
    conn.expect_closed();
    (data, state.user_id)
}
