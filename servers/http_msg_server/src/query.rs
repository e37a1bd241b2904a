//! The admin HTTP API (PROTOCOL §9): from a request's target and JSON body to either an answer
//! or a request for db_proxy. Pure: no I/O, the caller sends and answers.
//!
//! The checks run in the original's order, because the order decides which error code a
//! caller sees: target prefix, JSON syntax, reading `app_key`/`req_user_id` (error 5), the
//! caller's address and key (errors 6 and 2), the interface name, db_proxy availability
//! (error 10), then the interface's parameters (error 1).
//!
//! Who may call (KNOWN_DEFECTS D-AUTH-7): with `AllowIP`, the addresses it lists; without it
//! but with `AppKey`, anybody holding the key; with neither, loopback callers only.

use std::net::IpAddr;

use netlib::styled_json::{Scalar, styled_object};
use serde_json::Value;
use teamtalk_proto::pb::base_define::{ClientType, KickReasonType};
use teamtalk_proto::pb::group::{ImGroupChangeMemberReq, ImGroupCreateReq};
use teamtalk_proto::pb::server::ImServerKickUser;

use crate::config::Config;
use crate::json::{self, Unconvertible};

/// Prefix every API target starts with.
pub const QUERY_PREFIX: &str = "/query/";
const CREATE_GROUP: &str = "/query/CreateGroup";
const CHANGE_MEMBERS: &str = "/query/ChangeMembers";
/// A teamtalk-rs addition: closes a user's connections on every msg_server (the admin
/// console calls it after disabling the user).
const KICK_USER: &str = "/query/KickUser";

/// The API's error codes, each with the message the original sends for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 0 `成功`.
    Success = 0,
    /// 1 `参数错误`: a parameter is missing, null, of the wrong type or out of range.
    Param = 1,
    /// 2 `appKey不存在`: `app_key` does not match the configured `AppKey`.
    AppKey = 2,
    /// 5 `未授权的接口`: `app_key` or `req_user_id` could not be read.
    Interface = 5,
    /// 6 `未授权的IP`: the caller's address is not allowed (see [`caller_allowed`]).
    Ip = 6,
    /// 10 `服务器异常`: no db_proxy connection.
    ServerException = 10,
    /// 11 `创建群失败`.
    CreateGroup = 11,
    /// 12 `更改群成员失败`.
    ChangeMember = 12,
}

impl ErrorCode {
    /// The message string sent with the code.
    pub fn message(self) -> &'static str {
        match self {
            Self::Success => "成功",
            Self::Param => "参数错误",
            Self::AppKey => "appKey不存在",
            Self::Interface => "未授权的接口",
            Self::Ip => "未授权的IP",
            Self::ServerException => "服务器异常",
            Self::CreateGroup => "创建群失败",
            Self::ChangeMember => "更改群成员失败",
        }
    }

    /// `{"error_code": …, "error_msg": …}` in StyledWriter form.
    pub fn body(self) -> String {
        styled_object(&[
            ("error_code", Scalar::Int(self as i64)),
            ("error_msg", Scalar::Str(self.message())),
        ])
    }

    /// The CreateGroup answer, which also carries `group_id`.
    pub fn create_group_body(self, group_id: u32) -> String {
        styled_object(&[
            ("error_code", Scalar::Int(self as i64)),
            ("error_msg", Scalar::Str(self.message())),
            ("group_id", Scalar::Int(i64::from(group_id))),
        ])
    }
}

/// What to do with one HTTP request.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Close the connection without answering.
    Close,
    /// Answer with this JSON body, then close.
    Answer(String),
    /// Refuse the caller ([`ErrorCode::Ip`] or [`ErrorCode::AppKey`]): answer with the
    /// code's body, then close; the caller logs the refusal.
    Refuse(ErrorCode),
    /// Send this group creation to db_proxy (the caller adds `attach_data`).
    CreateGroup(ImGroupCreateReq),
    /// Send this membership change to db_proxy (the caller adds `attach_data`).
    ChangeMembers(ImGroupChangeMemberReq),
    /// Send these kicks (one per kind of client) to route_server, which relays them to every
    /// msg_server.
    KickUser([ImServerKickUser; 2]),
}

/// Decides what to do with a request to `target` with `body` from `peer`.
pub fn handle(
    target: &str,
    body: &[u8],
    peer: Option<IpAddr>,
    config: &Config,
    db_available: bool,
) -> Action {
    if !target.starts_with(QUERY_PREFIX) {
        return Action::Close;
    }
    let Some(root) = json::parse_document(body) else {
        return Action::Close;
    };
    let Ok(app_key) = read_credentials(&root) else {
        return Action::Answer(ErrorCode::Interface.body());
    };
    if !caller_allowed(peer, config) {
        return Action::Refuse(ErrorCode::Ip);
    }
    if let Some(key) = &config.app_key {
        if !key_matches(&app_key, key) {
            return Action::Refuse(ErrorCode::AppKey);
        }
    }
    let interface = match target {
        CREATE_GROUP => create_group,
        CHANGE_MEMBERS => change_members,
        // Needs route_server, not db_proxy.
        KICK_USER => {
            return kick_user(&root).unwrap_or_else(|_| Action::Answer(ErrorCode::Param.body()));
        }
        _ => return Action::Close,
    };
    if !db_available {
        return Action::Answer(ErrorCode::ServerException.body());
    }
    interface(&root).unwrap_or_else(|_| Action::Answer(ErrorCode::Param.body()))
}

/// Whether a caller at `peer` may use the API: listed in `AllowIP` when that is configured;
/// anybody when only `AppKey` is (the key is checked next); else loopback callers only.
pub fn caller_allowed(peer: Option<IpAddr>, config: &Config) -> bool {
    match (&config.allow_ips, &config.app_key) {
        (Some(allowed), _) => peer.is_some_and(|ip| allowed.allows(ip)),
        (None, Some(_)) => true,
        (None, None) => peer.is_some_and(|ip| ip.to_canonical().is_loopback()),
    }
}

/// Compares a caller's key with the configured one in a time that does not depend on where
/// they differ; only the configured key's length shows in the timing.
fn key_matches(given: &str, expected: &str) -> bool {
    let (given, expected) = (given.as_bytes(), expected.as_bytes());
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= given.get(i).map_or(0xff, |g| g ^ e);
    }
    // Keep the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

/// Reads `app_key` and `req_user_id` the way the original does before dispatching; the user id
/// is read only for its possible failure (every request runs as user 0).
fn read_credentials(root: &Value) -> Result<String, Unconvertible> {
    let app_key = json::as_string(json::member(root, "app_key")?)?;
    json::as_uint(json::member(root, "req_user_id")?)?;
    Ok(app_key)
}

/// The required keys, checked for presence (non-null) in order.
fn present(root: &Value, keys: &[&str]) -> Result<(), Unconvertible> {
    for key in keys {
        if json::member(root, key)?.is_null() {
            return Err(Unconvertible);
        }
    }
    Ok(())
}

fn user_id_list(root: &Value) -> Result<Vec<u32>, Unconvertible> {
    let list = json::member(root, "user_id_list")?;
    (0..json::size(list))
        .map(|i| json::as_uint(json::element(list, i)?))
        .collect()
}

fn create_group(root: &Value) -> Result<Action, Unconvertible> {
    present(
        root,
        &[
            "req_user_id",
            "group_name",
            "group_type",
            "group_avatar",
            "user_id_list",
        ],
    )?;
    let group_name = json::as_string(json::member(root, "group_name")?)?;
    let group_type = json::as_uint(json::member(root, "group_type")?)?;
    let group_avatar = json::as_string(json::member(root, "group_avatar")?)?;
    if !matches!(group_type, 1 | 2) {
        return Err(Unconvertible);
    }
    Ok(Action::CreateGroup(ImGroupCreateReq {
        // The admin interface acts as user 0, which db_proxy lets change any group.
        user_id: 0,
        group_type: group_type as i32,
        group_name,
        group_avatar,
        member_id_list: user_id_list(root)?,
        attach_data: None,
    }))
}

fn change_members(root: &Value) -> Result<Action, Unconvertible> {
    present(
        root,
        &["req_user_id", "group_id", "modify_type", "user_id_list"],
    )?;
    let group_id = json::as_uint(json::member(root, "group_id")?)?;
    let modify_type = json::as_uint(json::member(root, "modify_type")?)?;
    if !matches!(modify_type, 1 | 2) {
        return Err(Unconvertible);
    }
    Ok(Action::ChangeMembers(ImGroupChangeMemberReq {
        user_id: 0,
        change_type: modify_type as i32,
        group_id,
        member_id_list: user_id_list(root)?,
        attach_data: None,
    }))
}

/// msg_server kicks the connections of the same kind as the named client type (PC or
/// mobile, BEHAVIOUR §2.2 step 5), so one kick per kind reaches them all.
const KICKED_KINDS: [i32; 2] = [ClientType::Windows as i32, ClientType::Ios as i32];

fn kick_user(root: &Value) -> Result<Action, Unconvertible> {
    present(root, &["req_user_id", "user_id"])?;
    let user_id = json::as_uint(json::member(root, "user_id")?)?;
    if user_id == 0 {
        return Err(Unconvertible);
    }
    // The original has no "disabled by the administrator" reason; a duplicate login is the
    // one clients show as "signed in elsewhere" and do not retry at once.
    Ok(Action::KickUser(KICKED_KINDS.map(|client_type| {
        ImServerKickUser {
            user_id,
            client_type,
            reason: KickReasonType::KickReasonDuplicateUser as u32,
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlib::Conf;

    fn config(extra: &str) -> Config {
        Config::from_conf(&Conf::parse(&format!(
            "ListenIP=127.0.0.1\nListenPort=0\n{extra}"
        )))
        .unwrap()
    }

    fn loopback() -> Option<IpAddr> {
        Some("127.0.0.1".parse().unwrap())
    }

    fn run(target: &str, body: &str) -> Action {
        handle(target, body.as_bytes(), loopback(), &config(""), true)
    }

    const CREATE: &str = r#"{"req_user_id":1,"app_key":"k","group_name":"g","group_type":2,
                            "group_avatar":"a","user_id_list":[3,1,2]}"#;

    #[test]
    fn kick_user_becomes_one_kick_per_kind_without_db_proxy() {
        let body = r#"{"req_user_id":0,"app_key":"","user_id":42}"#;
        let Action::KickUser(kicks) =
            handle(KICK_USER, body.as_bytes(), loopback(), &config(""), false)
        else {
            panic!("not a kick");
        };
        assert_eq!(
            kicks.map(|k| (k.user_id, k.client_type, k.reason)),
            [(42, 1, 1), (42, 17, 1)]
        );
        for bad in [
            r#"{"req_user_id":0,"app_key":""}"#,
            r#"{"req_user_id":0,"app_key":"","user_id":0}"#,
            r#"{"req_user_id":0,"app_key":"","user_id":"x"}"#,
        ] {
            assert_eq!(
                run(KICK_USER, bad),
                Action::Answer(ErrorCode::Param.body()),
                "{bad}"
            );
        }
        // The same gate as the other interfaces.
        let refused = handle(
            KICK_USER,
            body.as_bytes(),
            Some("10.0.0.1".parse().unwrap()),
            &config(""),
            true,
        );
        assert_eq!(refused, Action::Refuse(ErrorCode::Ip));
    }

    #[test]
    fn create_group_becomes_a_db_request_as_user_zero() {
        assert_eq!(
            run(CREATE_GROUP, CREATE),
            Action::CreateGroup(ImGroupCreateReq {
                user_id: 0,
                group_type: 2,
                group_name: "g".into(),
                group_avatar: "a".into(),
                member_id_list: vec![3, 1, 2],
                attach_data: None,
            })
        );
    }

    #[test]
    fn change_members_becomes_a_db_request_as_user_zero() {
        let body = r#"{"req_user_id":9,"app_key":"","group_id":5,"modify_type":2,
                      "user_id_list":[7]}"#;
        assert_eq!(
            run(CHANGE_MEMBERS, body),
            Action::ChangeMembers(ImGroupChangeMemberReq {
                user_id: 0,
                change_type: 2,
                group_id: 5,
                member_id_list: vec![7],
                attach_data: None,
            })
        );
    }

    #[test]
    fn parameter_problems_answer_code_1() {
        let param = Action::Answer(ErrorCode::Param.body());
        for broken in [
            CREATE.replace(r#""group_name":"g","#, ""),
            CREATE.replace(r#""group_avatar":"a""#, r#""group_avatar":null"#),
            CREATE.replace(r#""group_type":2"#, r#""group_type":3"#),
            CREATE.replace(r#""group_type":2"#, r#""group_type":"2""#),
            CREATE.replace("[3,1,2]", r#"[3,"x"]"#),
            CREATE.replace("[3,1,2]", r#"{"a":1}"#),
            CREATE.replace(r#""group_name":"g""#, r#""group_name":[1]"#),
        ] {
            assert_eq!(run(CREATE_GROUP, &broken), param, "{broken}");
        }
        let no_type = r#"{"req_user_id":9,"group_id":5,"modify_type":0,"user_id_list":[7]}"#;
        assert_eq!(run(CHANGE_MEMBERS, no_type), param);
    }

    #[test]
    fn unreadable_credentials_answer_code_5() {
        let interface = Action::Answer(ErrorCode::Interface.body());
        for body in [
            r#"{"req_user_id":-1}"#,
            r#"{"req_user_id":"12"}"#,
            r#"{"app_key":{"x":1}}"#,
            "[1,2]",
            "\"text\"",
        ] {
            assert_eq!(run(CREATE_GROUP, body), interface, "{body}");
        }
        // A null root reads as an empty object: the parameters are then missing.
        assert_eq!(
            run(CREATE_GROUP, "null"),
            Action::Answer(ErrorCode::Param.body())
        );
    }

    #[test]
    fn other_targets_and_bad_json_close_without_answer() {
        assert_eq!(run("/msg_server", CREATE), Action::Close);
        assert_eq!(run("/query/Unknown", CREATE), Action::Close);
        assert_eq!(run("/query/CreateGroup?x=1", CREATE), Action::Close);
        assert_eq!(run(CREATE_GROUP, "{not json"), Action::Close);
        assert_eq!(run(CREATE_GROUP, ""), Action::Close);
    }

    #[test]
    fn text_after_the_json_document_is_ignored_as_jsoncpp_does() {
        assert!(matches!(
            run(CREATE_GROUP, &format!("{CREATE}\u{0}garbage")),
            Action::CreateGroup(_)
        ));
    }

    #[test]
    fn no_db_answers_code_10_before_parameters_are_checked() {
        assert_eq!(
            handle(CREATE_GROUP, b"{}", loopback(), &config(""), false),
            Action::Answer(ErrorCode::ServerException.body())
        );
    }

    #[test]
    fn configured_authentication_is_enforced() {
        let cfg = config("AppKey=secret\nAllowIP=10.1.2.3\n");
        let local = Some("127.0.0.1".parse().unwrap());
        let allowed = Some("10.1.2.3".parse().unwrap());
        assert_eq!(
            handle(CREATE_GROUP, CREATE.as_bytes(), local, &cfg, true),
            Action::Refuse(ErrorCode::Ip)
        );
        assert_eq!(
            handle(CREATE_GROUP, CREATE.as_bytes(), allowed, &cfg, true),
            Action::Refuse(ErrorCode::AppKey)
        );
        let keyed = CREATE.replace(r#""app_key":"k""#, r#""app_key":"secret""#);
        assert!(matches!(
            handle(CREATE_GROUP, keyed.as_bytes(), allowed, &cfg, true),
            Action::CreateGroup(_)
        ));
    }

    #[test]
    fn without_app_key_or_allow_ip_only_loopback_callers_are_answered() {
        let open = config("");
        for ip in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert!(caller_allowed(Some(ip.parse().unwrap()), &open), "{ip}");
        }
        for ip in [
            "10.0.0.5",
            "192.168.1.1",
            "203.0.113.4",
            "fd00::1",
            "::ffff:10.0.0.5",
        ] {
            assert!(!caller_allowed(Some(ip.parse().unwrap()), &open), "{ip}");
            assert_eq!(
                handle(
                    CREATE_GROUP,
                    CREATE.as_bytes(),
                    Some(ip.parse().unwrap()),
                    &open,
                    true
                ),
                Action::Refuse(ErrorCode::Ip),
                "{ip}"
            );
        }
        assert!(!caller_allowed(None, &open));
    }

    #[test]
    fn app_key_alone_admits_any_address_holding_the_key() {
        let keyed = config("AppKey=secret\n");
        let remote = Some("203.0.113.4".parse().unwrap());
        assert!(caller_allowed(remote, &keyed));
        assert_eq!(
            handle(CREATE_GROUP, CREATE.as_bytes(), remote, &keyed, true),
            Action::Refuse(ErrorCode::AppKey)
        );
        let body = CREATE.replace(r#""app_key":"k""#, r#""app_key":"secret""#);
        assert!(matches!(
            handle(CREATE_GROUP, body.as_bytes(), remote, &keyed, true),
            Action::CreateGroup(_)
        ));
    }

    #[test]
    fn allow_ip_takes_ranges() {
        let ranged = config("AllowIP=10.8.0.0/16;::1\n");
        assert!(caller_allowed(Some("10.8.3.4".parse().unwrap()), &ranged));
        assert!(caller_allowed(Some("::1".parse().unwrap()), &ranged));
        assert!(!caller_allowed(Some("10.9.0.1".parse().unwrap()), &ranged));
        assert!(!caller_allowed(Some("127.0.0.1".parse().unwrap()), &ranged));
    }

    #[test]
    fn keys_match_only_when_equal() {
        assert!(key_matches("secret", "secret"));
        assert!(key_matches("", ""));
        for other in [
            "", "secreT", "secre", "secrets", "Secret", "s\0cret", "xxxxxx",
        ] {
            assert!(!key_matches(other, "secret"), "{other:?}");
        }
        assert!(!key_matches("a", ""));
    }

    #[test]
    fn bodies_match_the_documented_text() {
        assert_eq!(
            ErrorCode::ChangeMember.body(),
            "{\n   \"error_code\" : 12,\n   \"error_msg\" : \"更改群成员失败\"\n}\n"
        );
        assert_eq!(
            ErrorCode::CreateGroup.create_group_body(0),
            "{\n   \"error_code\" : 11,\n   \"error_msg\" : \"创建群失败\",\n   \"group_id\" : 0\n}\n"
        );
    }
}
