//! The console over real HTTP, on the real MariaDB: sign-in (success, failure, throttling per
//! address and per name, sign-out), CSRF refusals, every page's changes and refusals (nothing
//! written on refusal, audit entries naming the signed-in administrator), groups through a
//! real http_msg_server seen by a user logged in over the wire protocol, and the dashboard.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

mod support;

use admin_server::account;
use mysql::prelude::Queryable;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use support::{Console, closed_addr, encode};
use testkit::{TestCluster, TestUser, unique_name};
use tt_client::CommandId;
use tt_client::pb::base_define::ClientType;
use tt_client::pb::login::ImKickUser;

const WAIT: Duration = Duration::from_secs(15);

/// A browser without a session, from `source` (a loopback address).
fn browser_from(console: &Console, source: Ipv4Addr) -> Browser {
    Browser {
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(IpAddr::V4(source))
            .build()
            .unwrap(),
        base: console.url(""),
        cookie: None,
    }
}

fn browser(console: &Console) -> Browser {
    browser_from(console, Ipv4Addr::LOCALHOST)
}

/// A browser signed in as the console's administrator.
async fn signed_in(console: &Console) -> Browser {
    let mut b = browser(console);
    let answer = b.sign_in(&console.admin, &console.password).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    b
}

/// An answer, read whole.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    body: String,
}

/// A minimal browser: keeps the session cookie, posts forms, follows nothing by itself.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let request = match &self.cookie {
            Some(c) => request.header(COOKIE, c.clone()),
            None => request,
        };
        let answer = request.send().await.unwrap();
        let header = |name| {
            answer
                .headers()
                .get(name)
                .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
        };
        let (location, set_cookie) = (header(LOCATION), header(SET_COOKIE));
        if let Some(c) = &set_cookie {
            let pair = c.split(';').next().unwrap().to_owned();
            self.cookie = (!pair.ends_with('=')).then_some(pair);
        }
        let status = answer.status();
        let body = answer.text().await.unwrap();
        Answer {
            status,
            location,
            set_cookie,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    /// Posts a form of the page at `page`, with that page's CSRF token added.
    async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
        let shown = self.get(page).await;
        assert_eq!(shown.status, StatusCode::OK, "{page}: {}", shown.body);
        let token = csrf_token(&shown.body);
        let mut all = fields.to_vec();
        all.push(("csrf", &token));
        self.post(action, &all).await
    }

    /// Signs in through the form, as a browser does: its page first (for the form token and
    /// its cookie), then the post.
    async fn sign_in(&mut self, name: &str, password: &str) -> Answer {
        self.submit(
            "/login",
            "/login",
            &[("name", name), ("password", password)],
        )
        .await
    }
}

fn csrf_token(html: &str) -> String {
    let start = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[start..start + 64].to_owned()
}

fn audit_actions(conn: &mut mysql::Conn, actor: &str) -> Vec<String> {
    conn.exec(
        "SELECT action FROM IMAdminAudit WHERE actor = ? ORDER BY id",
        (actor,),
    )
    .unwrap()
}

fn department_id(conn: &mut mysql::Conn, name: &str) -> Option<u32> {
    conn.exec_first(
        "SELECT id FROM IMDepart WHERE departName = ? AND status = 0",
        (name,),
    )
    .unwrap()
}

fn user_rows(conn: &mut mysql::Conn, name: &str) -> u64 {
    conn.exec_first("SELECT COUNT(*) FROM IMUser WHERE name = ?", (name,))
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn sign_in_takes_the_generated_password_only_and_sign_out_ends_the_session() {
    let console = Console::start(&closed_addr(), &[]);
    let mut b = browser(&console);

    // Not signed in: every page sends to the sign-in form.
    for path in ["/", "/departments", "/users", "/groups", "/audit"] {
        let answer = b.get(path).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(answer.location.as_deref(), Some("/login"), "{path}");
    }
    let form = b.get("/login").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("name=\"password\""));

    let wrong = b.sign_in(&console.admin, "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.body.contains("Wrong name or password"),
        "{}",
        wrong.body
    );
    assert!(wrong.set_cookie.is_none());
    let unknown = b.sign_in("nobody-here", &console.password).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let empty = b.sign_in(&console.admin, "").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);

    let ok = b.sign_in(&console.admin, &console.password).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location.as_deref(), Some("/"));
    let cookie = ok.set_cookie.unwrap();
    assert!(cookie.starts_with("tt_admin_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    // 256 bits in hex.
    assert_eq!(cookie.split(';').next().unwrap().len(), 17 + 64, "{cookie}");
    let last_login: u32 = console
        .db()
        .exec_first(
            "SELECT lastLogin FROM IMAdminAccount WHERE name = ?",
            (&console.admin,),
        )
        .unwrap()
        .unwrap();
    assert!(last_login > 0);

    let dashboard = b.get("/").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert!(dashboard.body.contains(&console.admin));
    assert!(dashboard.body.contains("Sign out"));

    // A stolen or guessed cookie value that is not a session is nothing.
    let mut forged = browser(&console);
    forged.cookie = Some(format!("tt_admin_session={}", "ab".repeat(32)));
    assert_eq!(forged.get("/audit").await.status, StatusCode::SEE_OTHER);

    let old_cookie = b.cookie.clone();
    let out = b.submit("/", "/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
    let mut replay = browser(&console);
    replay.cookie = old_cookie;
    let after = replay.get("/departments").await;
    assert_eq!(after.location.as_deref(), Some("/login"));
}

#[tokio::test]
async fn failed_sign_ins_lock_the_address_and_the_name() {
    let console = Console::start(&closed_addr(), &[]);
    let other = unique_name("adm2");
    let other_password = account::create(&mut console.db(), &other).unwrap();
    let third = unique_name("adm3");
    let third_password = account::create(&mut console.db(), &third).unwrap();

    let mut from_1 = browser(&console);
    for _ in 0..5 {
        let answer = from_1.sign_in(&console.admin, "guess").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    // The name is locked: its right password from another address is refused too.
    let mut from_2 = browser_from(&console, Ipv4Addr::new(127, 0, 0, 2));
    let locked = from_2.sign_in(&console.admin, &console.password).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    assert!(locked.body.contains("Too many failed sign-ins"));
    // The address is locked: another account's right password from it is refused.
    let locked = from_1.sign_in(&other, &other_password).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    // Neither lock touches another name from another address.
    let mut from_3 = browser_from(&console, Ipv4Addr::new(127, 0, 0, 3));
    let ok = from_3.sign_in(&third, &third_password).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    // Four failures are not a lock, and a success clears them.
    for _ in 0..4 {
        from_3.cookie = None;
        assert_eq!(
            from_3.sign_in(&other, "guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    from_3.cookie = None;
    assert_eq!(
        from_3.sign_in(&other, &other_password).await.status,
        StatusCode::SEE_OTHER
    );
    from_3.cookie = None;
    assert_eq!(
        from_3.sign_in(&other, "guess").await.status,
        StatusCode::UNAUTHORIZED
    );
    from_3.cookie = None;
    assert_eq!(
        from_3.sign_in(&other, &other_password).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn posts_without_the_session_s_csrf_token_are_refused_and_write_nothing() {
    let console = Console::start(&closed_addr(), &[]);
    let mut b = signed_in(&console).await;
    let mut conn = console.db();
    let name = unique_name("csrf");

    let missing = b
        .post("/departments/add", &[("name", &name), ("parent", "0")])
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("security token"), "{}", missing.body);
    let wrong = b
        .post(
            "/departments/add",
            &[("name", &name), ("parent", "0"), ("csrf", &"0".repeat(64))],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // Another session's token does not fit this session.
    let mut other = signed_in(&console).await;
    let foreign = csrf_token(&other.get("/departments").await.body);
    let crossed = b
        .post(
            "/departments/add",
            &[("name", &name), ("parent", "0"), ("csrf", &foreign)],
        )
        .await;
    assert_eq!(crossed.status, StatusCode::FORBIDDEN);
    // No session at all.
    let mut anonymous = browser(&console);
    let none = anonymous
        .post(
            "/departments/add",
            &[("name", &name), ("parent", "0"), ("csrf", &foreign)],
        )
        .await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    assert_eq!(department_id(&mut conn, &name), None);
    assert!(audit_actions(&mut conn, &console.admin).is_empty());

    // The same form with the token is taken.
    let done = b
        .submit(
            "/departments",
            "/departments/add",
            &[("name", &name), ("parent", "0")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let id = department_id(&mut conn, &name).unwrap();
    tt_admin::department::delete(&mut conn, "test", id).unwrap();
}

/// A form action, its fields, and the status and text expected.
type Refusal<'a> = (&'a str, Vec<(&'a str, String)>, StatusCode, &'a str);

#[tokio::test]
async fn departments_are_created_renamed_moved_and_deleted_and_refusals_write_nothing() {
    let console = Console::start(&closed_addr(), &[]);
    let mut b = signed_in(&console).await;
    let mut conn = console.db();
    let (top, sub) = (unique_name("top"), unique_name("sub"));

    let made = b
        .submit(
            "/departments",
            "/departments/add",
            &[("name", &top), ("parent", "0")],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    assert_eq!(made.location.as_deref(), Some("/departments"));
    let top_id = department_id(&mut conn, &top).unwrap();
    let page = b.get("/departments").await;
    assert!(
        page.body.contains(&format!("Department {top} created")),
        "{}",
        page.body
    );
    let made = b
        .submit(
            "/departments",
            "/departments/add",
            &[("name", &sub), ("parent", &top_id.to_string())],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let sub_id = department_id(&mut conn, &sub).unwrap();
    let page = b.get("/departments").await.body;
    let tree = &page[page.find("class=\"tree\"").unwrap()..];
    // The child is listed inside its parent's item.
    let (at_top, at_sub) = (tree.find(&top).unwrap(), tree.find(&sub).unwrap());
    assert!(
        at_top < at_sub && tree[at_top..at_sub].contains("<ul>"),
        "{tree}"
    );
    let before = audit_actions(&mut conn, &console.admin);

    let refusals: [Refusal<'_>; 6] = [
        (
            "/departments/add",
            vec![("name", top.clone()), ("parent", "0".into())],
            StatusCode::CONFLICT,
            "already exists",
        ),
        (
            "/departments/add",
            vec![("name", "  ".into()), ("parent", "0".into())],
            StatusCode::BAD_REQUEST,
            "must not be empty",
        ),
        (
            "/departments/add",
            vec![("name", "x".repeat(65)), ("parent", "0".into())],
            StatusCode::BAD_REQUEST,
            "longer than 64",
        ),
        (
            "/departments/add",
            vec![("name", unique_name("np")), ("parent", "zero".into())],
            StatusCode::BAD_REQUEST,
            "parent",
        ),
        (
            "/departments/move",
            vec![("id", top_id.to_string()), ("parent", sub_id.to_string())],
            StatusCode::CONFLICT,
            "refused",
        ),
        (
            "/departments/delete",
            vec![("id", top_id.to_string())],
            StatusCode::CONFLICT,
            "refused",
        ),
    ];
    for (action, fields, status, text) in refusals {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = b.submit("/departments", action, &fields).await;
        assert_eq!(
            answer.status, status,
            "{action} {fields:?}: {}",
            answer.body
        );
        assert!(answer.body.contains(text), "{action}: {}", answer.body);
        // The refusal is shown on the page itself, with its forms.
        assert!(answer.body.contains("class=\"error\""), "{}", answer.body);
    }
    assert_eq!(audit_actions(&mut conn, &console.admin), before);
    let parent: u32 = conn
        .exec_first("SELECT parentId FROM IMDepart WHERE id = ?", (top_id,))
        .unwrap()
        .unwrap();
    assert_eq!(parent, 0);

    let renamed = format!("{sub}-r");
    let answer = b
        .submit(
            "/departments",
            "/departments/rename",
            &[("id", &sub_id.to_string()), ("name", &renamed)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let answer = b
        .submit(
            "/departments",
            "/departments/move",
            &[("id", &sub_id.to_string()), ("parent", "0")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    for id in [sub_id, top_id] {
        let answer = b
            .submit(
                "/departments",
                "/departments/delete",
                &[("id", &id.to_string())],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    }
    assert_eq!(department_id(&mut conn, &top), None);
    assert_eq!(
        audit_actions(&mut conn, &console.admin),
        [
            "department.add",
            "department.add",
            "department.rename",
            "department.move",
            "department.delete",
            "department.delete"
        ]
    );
    let audit = b.get("/audit").await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(audit.body.contains(&renamed), "{}", audit.body);
    assert!(audit.body.contains(&console.admin));
}

#[tokio::test]
async fn users_are_created_found_edited_disabled_and_kicked_and_refusals_write_nothing() {
    let cluster = TestCluster::start();
    let http = cluster.start_http_msg_server("");
    let http_addr = http.local_addrs()[0].to_string();
    let console = Console::start(&http_addr, &[]);
    let mut b = signed_in(&console).await;
    let mut conn = console.db();
    let dept = tt_admin::department::add(&mut conn, "test", &unique_name("udept"), 0).unwrap();
    let dept_s = dept.to_string();
    let name = unique_name("web");

    let create = |name: String, password: &'static str, phone: &'static str| {
        vec![
            ("name", name),
            ("nick", "Web User".to_owned()),
            ("password", password.to_owned()),
            ("depart", dept_s.clone()),
            ("sex", "2".to_owned()),
            ("email", "web@example.org".to_owned()),
            ("phone", phone.to_owned()),
        ]
    };
    let fields = create(name.clone(), "s3cret", "0123");
    let as_ref: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let made = b.submit("/users", "/users/add", &as_ref).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let id: u32 = conn
        .exec_first("SELECT id FROM IMUser WHERE name = ?", (&name,))
        .unwrap()
        .unwrap();
    // Stored the original's way: md5(md5(password) ‖ salt).
    let (password, salt): (String, String) = conn
        .exec_first("SELECT password, salt FROM IMUser WHERE id = ?", (id,))
        .unwrap()
        .unwrap();
    assert_eq!(password, teamtalk_proto_salted("s3cret", &salt));
    let user = |password: &str| TestUser {
        id,
        name: name.clone(),
        password: password.into(),
        nick: "Web User".into(),
    };
    let (client, info) = cluster.try_login(0, &user("s3cret")).unwrap();
    assert_eq!(info.user.user_id, id);
    drop(client);

    let found = b.get(&format!("/users?q={}", encode(&name))).await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(
        found.body.contains(&name) && found.body.contains("Web User"),
        "{}",
        found.body
    );

    let before = audit_actions(&mut conn, &console.admin);
    for (fields, status, text) in [
        (
            create(name.clone(), "pw", ""),
            StatusCode::CONFLICT,
            "already exists",
        ),
        (
            create(String::new(), "pw", ""),
            StatusCode::BAD_REQUEST,
            "must not be empty",
        ),
        (
            create("y".repeat(33), "pw", ""),
            StatusCode::BAD_REQUEST,
            "longer than 32",
        ),
        (
            create(unique_name("ph"), "pw", "12ab"),
            StatusCode::BAD_REQUEST,
            "digits only",
        ),
        (
            create(unique_name("pw"), "", ""),
            StatusCode::BAD_REQUEST,
            "password",
        ),
    ] {
        let as_ref: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = b.submit("/users", "/users/add", &as_ref).await;
        assert_eq!(answer.status, status, "{fields:?}: {}", answer.body);
        assert!(answer.body.contains(text), "{text}: {}", answer.body);
        assert!(user_rows(&mut conn, &fields[0].1) <= u64::from(fields[0].1 == name));
    }
    assert_eq!(user_rows(&mut conn, &name), 1);
    assert_eq!(audit_actions(&mut conn, &console.admin), before);

    let edit = format!("/users/edit?name={}", encode(&name));
    let saved = b
        .submit(
            &edit,
            "/users/profile",
            &[
                ("name", &name),
                ("nick", "Renamed"),
                ("depart", &dept_s),
                ("sex", "1"),
                ("email", ""),
                ("phone", "555"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let (nick, sex, phone): (String, u32, String) = conn
        .exec_first("SELECT nick, sex, phone FROM IMUser WHERE id = ?", (id,))
        .unwrap()
        .unwrap();
    assert_eq!((nick.as_str(), sex, phone.as_str()), ("Renamed", 1, "555"));
    let bad = b
        .submit(
            &edit,
            "/users/profile",
            &[
                ("name", &name),
                ("nick", ""),
                ("depart", &dept_s),
                ("sex", "0"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("nick"), "{}", bad.body);

    let set = b
        .submit(
            &edit,
            "/users/password",
            &[("name", &name), ("password", "n3w")],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    assert!(cluster.try_login(0, &user("s3cret")).is_err());
    drop(cluster.try_login(0, &user("n3w")).unwrap());

    // Disabling closes the user's open connections, PC and phone, on both msg_servers.
    let pc = cluster.login_as(0, &user("n3w"), ClientType::Windows);
    let phone = cluster.login_as(1, &user("n3w"), ClientType::Android);
    wait_kick_ready(&http_addr).await;
    let off = b
        .submit(&edit, "/users/status", &[("name", &name), ("enabled", "0")])
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
    let page = b.get(&edit).await.body;
    assert!(page.contains("any open connection was closed"), "{page}");
    for client in [pc, phone] {
        let kick: ImKickUser = client
            .wait_for_parsed(CommandId::LoginKickUser, WAIT)
            .unwrap();
        assert_eq!(kick.user_id, id);
        client.wait_closed(WAIT).unwrap();
    }
    assert!(cluster.try_login(0, &user("n3w")).is_err());
    let on = b
        .submit(&edit, "/users/status", &[("name", &name), ("enabled", "1")])
        .await;
    assert_eq!(on.status, StatusCode::SEE_OTHER, "{}", on.body);
    drop(cluster.try_login(0, &user("n3w")).unwrap());
    let missing = b
        .submit(
            &edit,
            "/users/status",
            &[("name", "no-such-user-x"), ("enabled", "0")],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    assert_eq!(
        audit_actions(&mut conn, &console.admin),
        [
            "user.add",
            "user.profile",
            "user.password",
            "user.disable",
            "user.enable"
        ]
    );
    conn.exec_drop("DELETE FROM IMUser WHERE id = ?", (id,))
        .unwrap();
    conn.exec_drop("DELETE FROM IMDepart WHERE id = ?", (dept,))
        .unwrap();
}

/// Waits until http_msg_server's route_server link is up (a kick is answered code 10 until
/// then), kicking a user id nobody has.
async fn wait_kick_ready(http_msg_server: &str) {
    let server = tt_admin::group::HttpMsgServer {
        addr: http_msg_server.to_owned(),
        app_key: String::new(),
    };
    let deadline = Instant::now() + WAIT;
    while let Err(e) = server.kick_user(u32::MAX) {
        assert!(
            Instant::now() < deadline,
            "http_msg_server never linked: {e}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The original's password hash, as db_proxy checks it.
fn teamtalk_proto_salted(password: &str, salt: &str) -> String {
    teamtalk_proto::crypto::salted_password(password, salt)
}

#[tokio::test]
async fn groups_are_made_and_changed_through_http_msg_server_and_members_see_them() {
    let cluster = TestCluster::start();
    let http = cluster.start_http_msg_server("");
    let console = Console::start(&http.local_addrs()[0].to_string(), &[]);
    let mut b = signed_in(&console).await;
    let mut conn = console.db();
    let owner = cluster.create_user("gowner");
    let member = cluster.create_user("gmember");
    let name = unique_name("webgrp");

    // http_msg_server answers "no db_proxy" until its link is up.
    let deadline = Instant::now() + Duration::from_secs(15);
    let group_id = loop {
        let answer = b
            .submit(
                "/groups",
                "/groups/add",
                &[
                    ("name", &name),
                    ("owner", &owner.name),
                    ("members", &member.name),
                ],
            )
            .await;
        if answer.status == StatusCode::SEE_OTHER {
            let notice = b.get("/groups").await.body;
            let at = notice.find("(id ").unwrap() + 4;
            let id: String = notice[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            break id.parse::<u32>().unwrap();
        }
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{}", answer.body);
        assert!(Instant::now() < deadline, "{}", answer.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    cluster.fixtures().adopt_group(group_id);
    let client = cluster.login(0, &member);
    let groups = client.group_list().unwrap().group_version_list;
    assert!(groups.iter().any(|g| g.group_id == group_id), "{groups:?}");
    drop(client);

    let view = format!("/groups/view?id={group_id}");
    let page = b.get(&view).await;
    assert!(page.body.contains(&member.name), "{}", page.body);

    let third = cluster.create_user("gthird");
    let added = b
        .submit(
            &view,
            "/groups/members",
            &[
                ("id", &group_id.to_string()),
                ("change", "add"),
                ("members", &third.name),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let client = cluster.login(0, &third);
    let groups = client.group_list().unwrap().group_version_list;
    assert!(groups.iter().any(|g| g.group_id == group_id), "{groups:?}");
    drop(client);
    let removed = b
        .submit(
            &view,
            "/groups/members",
            &[
                ("id", &group_id.to_string()),
                ("change", "remove"),
                ("members", &member.name),
            ],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    let client = cluster.login(0, &member);
    let groups = client.group_list().unwrap().group_version_list;
    assert!(!groups.iter().any(|g| g.group_id == group_id), "{groups:?}");
    drop(client);

    let before = audit_actions(&mut conn, &console.admin);
    for (fields, status, text) in [
        (
            vec![("change", "add"), ("members", "no-such-user-x")],
            StatusCode::NOT_FOUND,
            "not found",
        ),
        (
            vec![("change", "swap"), ("members", third.name.as_str())],
            StatusCode::BAD_REQUEST,
            "add or remove",
        ),
        (
            vec![("change", "add"), ("members", "")],
            StatusCode::BAD_REQUEST,
            "members",
        ),
    ] {
        let gid = group_id.to_string();
        let mut all = fields.clone();
        all.push(("id", &gid));
        let answer = b.submit(&view, "/groups/members", &all).await;
        assert_eq!(answer.status, status, "{fields:?}: {}", answer.body);
        assert!(answer.body.contains(text), "{text}: {}", answer.body);
    }
    let answer = b
        .submit(
            "/groups",
            "/groups/add",
            &[("name", ""), ("owner", &owner.name), ("members", "")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(audit_actions(&mut conn, &console.admin), before);

    let new_name = format!("{name}-r");
    let renamed = b
        .submit(
            &view,
            "/groups/rename",
            &[("id", &group_id.to_string()), ("name", &new_name)],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER, "{}", renamed.body);
    let (stored, version): (String, u32) = conn
        .exec_first(
            "SELECT name, version FROM IMGroup WHERE id = ?",
            (group_id,),
        )
        .unwrap()
        .unwrap();
    assert_eq!(stored, new_name);
    assert!(version > 1);
    let client = cluster.login(0, &third);
    let info = client.group_info(&[(group_id, 0)]).unwrap();
    assert_eq!(info.group_info_list[0].group_name, new_name);
    drop(client);

    assert_eq!(
        audit_actions(&mut conn, &console.admin),
        [
            "group.create",
            "group.add_members",
            "group.remove_members",
            "group.rename"
        ]
    );
}

#[tokio::test]
async fn the_dashboard_shows_each_server_s_health_and_readiness() {
    let cluster = TestCluster::start();
    let http = cluster.start_http_msg_server("MetricsListenIP=127.0.0.1\nMetricsPort=0\n");
    let metrics = http.metrics_addr().unwrap();
    let console = Console::start(
        &http.local_addrs()[0].to_string(),
        &[
            ("http_msg_server", format!("http://{metrics}")),
            ("gone_server", format!("http://{}", closed_addr())),
        ],
    );
    let mut b = signed_in(&console).await;
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    let row = |name: &str| {
        let at = page.body.find(&format!("<td>{name}</td>")).unwrap();
        let end = page.body[at..].find("</tr>").unwrap();
        page.body[at..at + end].to_owned()
    };
    assert!(row("http_msg_server").contains(">up<"), "{}", page.body);
    let gone = row("gone_server");
    assert!(
        gone.contains(">down<") && gone.contains("unreachable"),
        "{gone}"
    );
}

/// A client trickling its request head a byte a second (slowloris) is cut once the head has
/// taken 10 s, however often bytes arrive; a whole request on another connection is served
/// meanwhile.
#[test]
fn a_request_head_trickled_in_is_cut_after_ten_seconds() {
    use std::io::{Read, Write};
    let console = Console::start(&closed_addr(), &[]);
    let addr = console.handle.local_addr();
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(900)))
        .unwrap();
    slow.write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let cut = loop {
        assert!(started.elapsed() < Duration::from_secs(30), "never cut");
        // Keep resetting any idle timer: one header byte a second.
        if slow.write_all(b"X").is_err() {
            break started.elapsed();
        }
        match slow.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Ok(_) => panic!("an answer to an unfinished request"),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break started.elapsed(),
            Err(_) => {}
        }
    };
    assert!(cut >= Duration::from_secs(9), "cut too early: {cut:?}");
    let mut fast = std::net::TcpStream::connect(addr).unwrap();
    fast.write_all(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    fast.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A sign-in posted without the form's token, or with a token that is not the one its cookie
/// carries (another site's form), is refused without checking the password or opening a
/// session.
#[tokio::test]
async fn a_sign_in_without_the_form_s_token_is_refused() {
    let console = Console::start(&closed_addr(), &[]);
    let mut forged = browser(&console);
    let answer = forged
        .post(
            "/login",
            &[("name", &console.admin), ("password", &console.password)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(
        answer.body.contains("sign-in form expired"),
        "{}",
        answer.body
    );
    // Another browser's token with this browser's cookie.
    let mut other = browser(&console);
    let shown = other.get("/login").await;
    let foreign = csrf_token(&shown.body);
    forged.get("/login").await;
    let answer = forged
        .post(
            "/login",
            &[
                ("name", &console.admin),
                ("password", &console.password),
                ("csrf", &foreign),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(forged.get("/").await.location.as_deref() == Some("/login"));
    // The same browser through its own form signs in.
    let answer = forged.sign_in(&console.admin, &console.password).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
}
