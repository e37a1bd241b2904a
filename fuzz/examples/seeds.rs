//! Writes the seed corpora in `fuzz/corpus/<target>/` from real messages: a PDU of every client
//! command, the sample confs, HTTP requests, query bodies, multipart uploads and file-transfer
//! exchanges. Run from anywhere: `cargo run --manifest-path fuzz/Cargo.toml --example seeds`.
//! Existing seed files of the same name are overwritten; others are left alone.

use std::fs;
use std::path::{Path, PathBuf};

use prost::Message;
use teamtalk_fuzz::commands::{CLIENT_COMMANDS, default_body, parse_client_body};
use teamtalk_fuzz::harness::TASK_ID_PLACEHOLDER;
use teamtalk_proto::pb::{base_define, file, group, login, message};
use teamtalk_proto::{CommandId, DbAttachData, Pdu, PduAttachData};

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).expect("corpus dir is writable");
    dir
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    fs::write(corpus(target).join(name), bytes).expect("corpus file is writable");
}

fn pdu(cmd: CommandId, seq: u16, msg: &impl Message) -> Vec<u8> {
    Pdu::new(cmd, seq, msg).encode()
}

fn login_req() -> login::ImLoginReq {
    login::ImLoginReq {
        user_name: "tt1".into(),
        password: "e10adc3949ba59abbe56e057f20f883e".into(),
        online_status: base_define::UserStatType::UserStatusOnline as i32,
        client_type: base_define::ClientType::Windows as i32,
        client_version: Some("win_10086".into()),
    }
}

fn msg_data() -> message::ImMsgData {
    message::ImMsgData {
        from_user_id: 1,
        to_session_id: 2,
        msg_id: 0,
        create_time: 1_431_000_000,
        msg_type: base_define::MsgType::SingleText as i32,
        msg_data: b"aGVsbG8=".to_vec(),
        attach_data: None,
    }
}

/// A realistic body for the commands whose default message is too thin to be interesting.
fn realistic_body(cmd: CommandId) -> Option<Vec<u8>> {
    let body = match cmd {
        CommandId::LoginReqUserlogin => login_req().encode_to_vec(),
        CommandId::MsgData => msg_data().encode_to_vec(),
        CommandId::GroupCreateRequest => group::ImGroupCreateReq {
            user_id: 1,
            group_type: base_define::GroupType::Tmp as i32,
            group_name: "g".into(),
            group_avatar: String::new(),
            member_id_list: vec![1, 2, 3],
            attach_data: None,
        }
        .encode_to_vec(),
        CommandId::FileRequest => file::ImFileReq {
            from_user_id: 1,
            to_user_id: 2,
            file_name: "a.txt".into(),
            file_size: 1000,
            trans_mode: base_define::TransferFileType::FileTypeOnline as i32,
        }
        .encode_to_vec(),
        CommandId::FileLoginReq => file_login(1, 1),
        _ => return None,
    };
    Some(body)
}

fn task_id() -> String {
    String::from_utf8(TASK_ID_PLACEHOLDER.to_vec()).expect("ascii")
}

fn file_login(user_id: u32, role: i32) -> Vec<u8> {
    file::ImFileLoginReq {
        user_id,
        task_id: task_id(),
        file_role: role,
    }
    .encode_to_vec()
}

fn client_pdus() -> Vec<(CommandId, Vec<u8>)> {
    CLIENT_COMMANDS
        .iter()
        .map(|&cmd| {
            let body = realistic_body(cmd)
                .or_else(|| default_body(cmd))
                .expect("every client command has a body");
            let pdu = Pdu::from_body(cmd, 1, body);
            // A seed the server would drop as malformed explores nothing past the parser.
            if let Some(Err(e)) = parse_client_body(&pdu) {
                panic!("seed for {cmd} does not parse: {e}");
            }
            (cmd, pdu.encode())
        })
        .collect()
}

fn pdu_seeds() {
    let pdus = client_pdus();
    for (cmd, bytes) in &pdus {
        write("pdu_decode", &format!("{:04x}", *cmd as u16), bytes);
    }
    let all: Vec<u8> = pdus.iter().flat_map(|(_, b)| b.clone()).collect();
    write("pdu_decode", "all_commands", &all);

    // msg_server: the pre-login commands, each post-login command alone (ignored before
    // login), and a session that logs in, sends, and asks the time.
    for (cmd, bytes) in &pdus {
        if (*cmd as u16) >> 8 != 0x05 || *cmd == CommandId::FileRequest {
            write("msg_server_client", &format!("{:04x}", *cmd as u16), bytes);
        }
    }
    let mut session = pdu(CommandId::LoginReqUserlogin, 1, &login_req());
    session.extend(pdu(CommandId::MsgData, 2, &msg_data()));
    session.extend(Pdu::empty(CommandId::OtherHeartbeat, 3).encode());
    session.extend(pdu(
        CommandId::MsgTimeRequest,
        4,
        &message::ImClientTimeReq {},
    ));
    write("msg_server_client", "session", &session);
    let regist = login::ImRegistReq {
        user_name: "new".into(),
        password: "pw".into(),
        ..Default::default()
    };
    write(
        "msg_server_client",
        "regist",
        &pdu(CommandId::LoginReqRegist, 5, &regist),
    );
    let mut unknown = Pdu::empty(CommandId::OtherHeartbeat, 0);
    unknown.header.command_id = 0x070c;
    write("msg_server_client", "unknown_command", &unknown.encode());

    // msg_server after login: the first byte picks the client type (0 Windows, 2 iOS), then
    // each post-login command alone, all of them in one session, and a chat exchange.
    for (kind, prefix) in [(0u8, "pc"), (2u8, "ios")] {
        for (cmd, bytes) in &pdus {
            if (*cmd as u16) >> 8 == 0x05 && *cmd != CommandId::FileRequest {
                continue;
            }
            let mut input = vec![kind];
            input.extend(bytes);
            write(
                "msg_server_session",
                &format!("{prefix}_{:04x}", *cmd as u16),
                &input,
            );
        }
    }
    let mut all = vec![0u8];
    all.extend(pdus.iter().flat_map(|(_, b)| b.clone()));
    write("msg_server_session", "pc_all_commands", &all);
}

fn attach_seeds() {
    write("attach_data", "db", &DbAttachData::handle(7).encode());
    let body = msg_data().encode_to_vec();
    for attach_type in 1..=5 {
        let attach = PduAttachData::new(attach_type, 7, body.clone());
        write(
            "attach_data",
            &format!("pdu_{attach_type}"),
            &attach.encode(),
        );
    }
    write(
        "attach_data",
        "pdu_empty",
        &PduAttachData::new(3, 0, Vec::new()).encode(),
    );
}

fn conf_seeds() {
    let conf_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf");
    let mut entries: Vec<_> = fs::read_dir(&conf_dir)
        .expect("conf/ is next to fuzz/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .expect("file")
            .to_string_lossy()
            .into_owned();
        write(
            "conf_reader",
            &name,
            &fs::read(&path).expect("readable conf"),
        );
    }
}

const CREATE_GROUP_JSON: &str = concat!(
    r#"{"app_key":"secret","req_user_id":1,"group_name":"g","group_type":2,"#,
    r#""group_avatar":"","user_id_list":[1,2,3]}"#
);
const CHANGE_MEMBERS_JSON: &str =
    r#"{"app_key":"secret","req_user_id":1,"group_id":5,"modify_type":1,"user_id_list":[4]}"#;

fn http_seeds() {
    let post = |target: &str, body: &str| {
        format!(
            "POST {target} HTTP/1.1\r\nHost: 127.0.0.1:8400\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    write(
        "http_request",
        "msg_server",
        b"GET /msg_server HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n",
    );
    write(
        "http_request",
        "create_group",
        post("/query/CreateGroup", CREATE_GROUP_JSON).as_bytes(),
    );
    write(
        "http_request",
        "change_members",
        post("/query/ChangeMembers", CHANGE_MEMBERS_JSON).as_bytes(),
    );
    write("http_request", "http10", b"GET / HTTP/1.0\r\n\r\n");

    // http_msg_json: selector byte (target, config, db up, caller allowed), then the body.
    for (selector, body) in [
        (0u8, CREATE_GROUP_JSON),
        (1, CHANGE_MEMBERS_JSON),
        (4, CREATE_GROUP_JSON),
        (5, CHANGE_MEMBERS_JSON),
        (8, CREATE_GROUP_JSON),
        (20, CHANGE_MEMBERS_JSON),
        (0, r#"{"app_key":1,"req_user_id":"2"}"#),
        (
            1,
            concat!(
                r#"{"app_key":"","req_user_id":-1,"group_id":1.5,"modify_type":true,"#,
                r#""user_id_list":{"a":1}}"#
            ),
        ),
        (0, r#"[1,2,3]"#),
    ] {
        let mut bytes = vec![selector];
        bytes.extend_from_slice(body.as_bytes());
        write(
            "http_msg_json",
            &format!("{selector}_{}", body.len()),
            &bytes,
        );
    }
}

fn msfs_seeds() {
    let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
         filename=\"photo_200x100.jpg\"\r\nContent-Type: image/jpeg\r\n\r\nJPEGDATA\r\n\
         --{boundary}--\r\n"
    );
    let upload = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:8700\r\nContent-Type: multipart/form-data; \
         boundary={boundary}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for piece in [0u8, 7, 255] {
        let mut bytes = vec![piece];
        bytes.extend_from_slice(upload.as_bytes());
        write("msfs_multipart", &format!("upload_{piece}"), &bytes);
    }
    let mut download = vec![255u8];
    download
        .extend_from_slice(b"GET /g0/000/000/1431000000123456_0.jpg HTTP/1.1\r\nHost: x\r\n\r\n");
    write("msfs_multipart", "download", &download);
    let mut traversal = vec![255u8];
    traversal.extend_from_slice(b"GET /g0/000/000/.. HTTP/1.1\r\n\r\n");
    write("msfs_multipart", "download_dotdot", &traversal);
}

fn file_server_seeds() {
    // First byte: mode (even online, odd offline); the rest is the client's bytes.
    let with_mode = |mode: u8, pdus: &[Vec<u8>]| {
        let mut bytes = vec![mode];
        for p in pdus {
            bytes.extend_from_slice(p);
        }
        bytes
    };
    let login = |user, role| Pdu::from_body(CommandId::FileLoginReq, 1, file_login(user, role));
    let state = |code: i32| {
        pdu(
            CommandId::FileState,
            2,
            &file::ImFileState {
                state: code,
                task_id: task_id(),
                user_id: 1,
            },
        )
    };
    let pull_rsp = |offset: u32, len: usize| {
        pdu(
            CommandId::FilePullDataRsp,
            3,
            &file::ImFilePullDataRsp {
                result_code: 0,
                task_id: task_id(),
                user_id: 1,
                offset,
                file_data: vec![0x5a; len],
            },
        )
    };
    let pull_req = |offset: u32| {
        pdu(
            CommandId::FilePullDataReq,
            4,
            &file::ImFilePullDataReq {
                task_id: task_id(),
                user_id: 2,
                trans_mode: base_define::TransferFileType::FileTypeOffline as i32,
                offset,
                data_size: 32_768,
            },
        )
    };
    let seeds = [
        (
            "online_sender",
            with_mode(0, &[login(1, 1).encode(), state(0)]),
        ),
        (
            "online_receiver",
            with_mode(0, &[login(2, 2).encode(), pull_req(0)]),
        ),
        (
            "offline_upload",
            with_mode(
                1,
                &[login(1, 3).encode(), pull_rsp(0, 64), pull_rsp(64, 64)],
            ),
        ),
        (
            "offline_download",
            with_mode(1, &[login(2, 4).encode(), pull_req(0)]),
        ),
        (
            "wrong_user",
            with_mode(1, &[login(9, 3).encode(), state(1)]),
        ),
        (
            "heartbeat",
            with_mode(0, &[Pdu::empty(CommandId::OtherHeartbeat, 0).encode()]),
        ),
    ];
    for (name, bytes) in seeds {
        write("file_server_client", name, &bytes);
    }
}

/// A masked client → server WebSocket frame (FIN set) of `opcode` carrying `payload`.
fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

/// Seeds for `transport_layers`: the first byte picks the stack (see the target) and the piece
/// size; the rest is an upgrade and frames, a ClientHello, or an upgrade answer.
fn transport_seeds() {
    use std::sync::Arc;
    use teamtalk_transport::rustls::pki_types::ServerName;
    use teamtalk_transport::test_pki::Pki;
    use teamtalk_transport::{Layers, client_config};

    let upgrade = b"GET /ws HTTP/1.1\r\nHost: localhost:8000\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    let login = pdu(CommandId::LoginReqUserlogin, 1, &login_req());
    let (first, rest) = login.split_at(10);
    let mut frames = upgrade.to_vec();
    frames.extend(ws_frame(0x2, first));
    frames.extend(ws_frame(0x9, b"ping"));
    frames.extend(ws_frame(0x2, rest));
    frames.extend(ws_frame(0x8, &[0x03, 0xe8]));
    let mut fragmented = upgrade.to_vec();
    let mut start = ws_frame(0x2, first);
    start[0] &= 0x7f; // not FIN: continued in the next frame
    fragmented.extend(start);
    fragmented.extend(ws_frame(0x0, rest));
    let mut text = upgrade.to_vec();
    text.extend(ws_frame(0x1, b"hello"));

    let pki = Pki::new("seeds");
    let config = client_config(Some(&pki.ca()), None).expect("test PKI client config");
    let name = ServerName::try_from("localhost").expect("a valid name");
    let mut hello = Vec::new();
    Layers::client(Some((Arc::clone(&config), name)), None, &mut hello).expect("client layers");
    let _ = std::fs::remove_dir_all(&pki.dir);

    let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    // The first byte: the stack in its low two bits, the piece size above them
    // (1 + (head >> 2) * 37 bytes; 0 feeds one byte at a time).
    let whole = 60 << 2;
    let seeds: [(&str, u8, &[u8]); 7] = [
        ("ws-frames", whole, &frames),
        ("ws-frames-bytewise", 0, &frames),
        ("ws-fragmented", 1 << 2, &fragmented),
        ("ws-text", whole, &text),
        ("tls-client-hello", 1 | whole, &hello),
        ("wss-frames", 2 | whole, &frames),
        ("ws-client-answer", 3 | whole, answer),
    ];
    for (name, head, bytes) in seeds {
        let mut seed = vec![head];
        seed.extend_from_slice(bytes);
        write("transport_layers", name, &seed);
    }
}

fn main() {
    pdu_seeds();
    attach_seeds();
    conf_seeds();
    http_seeds();
    msfs_seeds();
    file_server_seeds();
    transport_seeds();
    println!("seed corpora written under {}", corpus("").display());
}
