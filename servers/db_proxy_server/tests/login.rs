//! Login validation (0x0703) and registration (0x0110) over a real link.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mysql::prelude::Queryable;
use teamtalk_proto::CommandId;
use teamtalk_proto::crypto::md5_hex;
use teamtalk_proto::pb::login::{ImRegistReq, ImRegistRes};
use teamtalk_proto::pb::server::{ImValidateReq, ImValidateRsp};

fn validate(link: &mut Link, name: &str, password: &str) -> ImValidateRsp {
    let req = ImValidateReq {
        user_name: name.to_owned(),
        password: md5_hex(password),
        attach_data: attach(42),
    };
    let rsp: ImValidateRsp = link.call(
        CommandId::OtherValidateReq,
        &req,
        CommandId::OtherValidateRsp,
    );
    assert_eq!(rsp.user_name, name);
    assert_eq!(rsp.attach_data, attach(42));
    rsp
}

#[test]
fn login_with_right_password_returns_user_info() {
    let mut db = db();
    let name = unique("ok");
    let id = create_user(&mut db, &name, "secret", 0);
    let server = start();
    let mut link = Link::to(&server);
    let rsp = validate(&mut link, &name, "secret");
    assert_eq!(rsp.result_code, 0);
    assert_eq!(rsp.result_string.as_deref(), Some("成功"));
    let info = rsp.user_info.unwrap();
    assert_eq!(info.user_id, id);
    assert_eq!(info.user_real_name, name);
    assert_eq!(info.user_nick_name, format!("nick-{name}"));
    assert_eq!(info.user_gender, 1);
    assert_eq!(info.department_id, 1);
    assert_eq!(info.user_domain, "dom");
    // NULL avatar reads as empty (D-DB-4), status is always 0 in the login answer.
    assert_eq!(info.avatar_url, "");
    assert_eq!(info.status, 0);
    assert_eq!(info.sign_info.as_deref(), Some(""));
}

#[test]
fn login_with_wrong_password_or_unknown_user_returns_error() {
    let mut db = db();
    let name = unique("bad");
    create_user(&mut db, &name, "secret", 0);
    let server = start();
    let mut link = Link::to(&server);
    let rsp = validate(&mut link, &name, "wrong");
    assert_eq!(rsp.result_code, 1);
    assert_eq!(rsp.result_string.as_deref(), Some("用户名/密码错误"));
    assert!(rsp.user_info.is_none());
    let rsp = validate(&mut link, &unique("nobody"), "secret");
    assert_eq!(rsp.result_code, 1);
}

#[test]
fn login_of_a_user_whose_status_is_not_zero_is_refused() {
    let mut db = db();
    let name = unique("st");
    create_user(&mut db, &name, "secret", 3);
    let server = start();
    let mut link = Link::to(&server);
    assert_eq!(validate(&mut link, &name, "secret").result_code, 1);
}

#[test]
fn eleven_failures_lock_the_name_and_a_success_before_resets_the_count() {
    let mut db = db();
    let name = unique("lock");
    create_user(&mut db, &name, "secret", 0);
    let other = unique("lock2");
    create_user(&mut db, &other, "secret", 0);
    let server = start();
    let mut link = Link::to(&server);

    // Ten failures, then a success clears the list.
    for _ in 0..10 {
        assert_eq!(validate(&mut link, &other, "wrong").result_code, 1);
    }
    assert_eq!(validate(&mut link, &other, "secret").result_code, 0);
    for _ in 0..10 {
        assert_eq!(validate(&mut link, &other, "wrong").result_code, 1);
    }
    assert_eq!(validate(&mut link, &other, "secret").result_code, 0);

    // Eleven failures lock the name: even the right password gets code 6.
    for _ in 0..11 {
        assert_eq!(validate(&mut link, &name, "wrong").result_code, 1);
    }
    let rsp = validate(&mut link, &name, "secret");
    assert_eq!(rsp.result_code, 6);
    assert_eq!(
        rsp.result_string.as_deref(),
        Some("用户名/密码错误次数太多")
    );
    assert!(rsp.user_info.is_none());
}

#[test]
fn sql_metacharacters_in_the_user_name_are_plain_text() {
    let mut db = db();
    let name = format!("{}'\" OR 1=1 -- ;\\", unique("q"));
    let name = name.chars().take(32).collect::<String>();
    let id = create_user(&mut db, &name, "secret", 0);
    let server = start();
    let mut link = Link::to(&server);
    let rsp = validate(&mut link, &name, "secret");
    assert_eq!(rsp.result_code, 0);
    assert_eq!(rsp.user_info.unwrap().user_id, id);
    // The classic bypass matches nobody.
    let rsp = validate(&mut link, "' OR '1'='1", "x");
    assert_eq!(rsp.result_code, 1);
}

#[test]
fn unparsable_validate_request_gets_internal_error_answer() {
    let server = start();
    let mut link = Link::to(&server);
    let seq = link.send_raw(CommandId::OtherValidateReq, vec![0xff, 0xff]);
    let answer = link.recv();
    assert_eq!(answer.header.command_id, CommandId::OtherValidateRsp as u16);
    assert_eq!(answer.header.seq_num, seq);
    let rsp: ImValidateRsp = answer.parse().unwrap();
    assert_eq!(rsp.result_code, 2);
    assert_eq!(rsp.result_string.as_deref(), Some("服务端内部错误"));
}

#[test]
fn registration_creates_a_user_who_can_log_in_and_refuses_duplicates() {
    let server = start();
    let mut link = Link::to(&server);
    let name = unique("reg");
    let req = ImRegistReq {
        user_name: name.clone(),
        password: md5_hex("pw1"),
        sex: Some(2),
        nick: Some("Nick".into()),
        avatar: None,
        phone: Some("13900000000".into()),
        email: Some("r@example.com".into()),
        attach_data: attach(9),
    };
    let rsp: ImRegistRes = link.call(CommandId::LoginReqRegist, &req, CommandId::LoginResRegist);
    assert_eq!(rsp.result_code, 0, "{:?}", rsp.result_string);
    assert_eq!(rsp.attach_data, attach(9));
    let id = rsp.user_id.unwrap();

    let mut db = db();
    let (salt, hash, sex, nick): (String, String, u32, String) = db
        .exec_first(
            "SELECT salt, password, sex, nick FROM IMUser WHERE id = ?",
            (id,),
        )
        .unwrap()
        .unwrap();
    assert!(salt.parse::<u32>().unwrap() < 10_000);
    assert_eq!(
        hash,
        teamtalk_proto::crypto::salt_client_hash(&md5_hex("pw1"), &salt)
    );
    assert_eq!((sex, nick.as_str()), (2, "Nick"));

    let login = validate(&mut link, &name, "pw1");
    assert_eq!(login.result_code, 0);
    assert_eq!(login.user_info.unwrap().user_id, id);

    let again: ImRegistRes = link.call(CommandId::LoginReqRegist, &req, CommandId::LoginResRegist);
    assert_eq!(again.result_code, 6);
    assert_eq!(again.result_string.as_deref(), Some("用户名已存在"));
    assert!(again.user_id.is_none());
    let count: u32 = db
        .exec_first("SELECT COUNT(*) FROM IMUser WHERE name = ?", (&name,))
        .unwrap()
        .unwrap();
    assert_eq!(count, 1);

    let empty = ImRegistReq {
        user_name: String::new(),
        ..req
    };
    let bad: ImRegistRes = link.call(CommandId::LoginReqRegist, &empty, CommandId::LoginResRegist);
    assert_eq!(bad.result_code, 6);
}
