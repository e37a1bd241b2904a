//! tt-admin's operations on the real MariaDB, and their effect on a real cluster: a user it
//! creates logs in over the wire protocol and sees the group it was added to; a disabled user
//! is refused; every refused operation (duplicate names, bad values, non-empty departments,
//! cycles, a bad CSV line) writes nothing, audit log included.

#![allow(clippy::unwrap_used)]

use mysql::prelude::Queryable;
use testkit::{TestCluster, TestUser, unique_name};
use tt_admin::group::{Change, HttpMsgServer};
use tt_admin::user::NewUser;
use tt_admin::{AdminError, audit, department, import, user};

const ACTOR: &str = "admin-test";

fn mysql_conn(cluster: &TestCluster) -> mysql::Conn {
    mysql::Conn::new(cluster.fixtures().env().mysql_opts()).unwrap()
}

/// Audit rows naming `needle` in their target (to check that a refused operation adds none;
/// other tests write audit rows at the same time).
fn audit_rows(conn: &mut mysql::Conn, needle: &str) -> u64 {
    conn.exec_first(
        "SELECT COUNT(*) FROM IMAdminAudit WHERE target LIKE ?",
        (format!("%{needle}%"),),
    )
    .unwrap()
    .unwrap()
}

fn user_rows(conn: &mut mysql::Conn, name: &str) -> u64 {
    conn.exec_first("SELECT COUNT(*) FROM IMUser WHERE name = ?", (name,))
        .unwrap()
        .unwrap()
}

/// Deletes what a test created (the test database is shared by every test run).
fn clean(conn: &mut mysql::Conn, users: &[&str], departments: &[u32]) {
    for name in users {
        conn.exec_drop("DELETE FROM IMUser WHERE name = ?", (name,))
            .unwrap();
    }
    for id in departments {
        conn.exec_drop("DELETE FROM IMDepart WHERE id = ?", (id,))
            .unwrap();
    }
}

#[test]
fn departments_form_a_tree_and_refuse_what_would_break_it() {
    let cluster = TestCluster::start();
    let mut db = mysql_conn(&cluster);
    let conn = &mut db;
    let (a, b) = (unique_name("dept-a"), unique_name("dept-b"));
    let top = department::add(conn, ACTOR, &a, 0).unwrap();
    let sub = department::add(conn, ACTOR, &b, top).unwrap();
    let before = audit_rows(conn, &a) + audit_rows(conn, &b);

    assert!(matches!(
        department::add(conn, ACTOR, &a, 0),
        Err(AdminError::Exists(_))
    ));
    assert!(matches!(
        department::add(conn, ACTOR, "", 0),
        Err(AdminError::Invalid { .. })
    ));
    assert!(matches!(
        department::add(conn, ACTOR, &"x".repeat(65), 0),
        Err(AdminError::Invalid { .. })
    ));
    assert!(matches!(
        department::add(conn, ACTOR, "orphan", u32::MAX),
        Err(AdminError::NotFound(_))
    ));
    // Under its own child: a cycle.
    assert!(matches!(
        department::move_to(conn, ACTOR, top, sub),
        Err(AdminError::Refused(_))
    ));
    assert!(matches!(
        department::delete(conn, ACTOR, top),
        Err(AdminError::Refused(m)) if m.contains("1 sub-departments")
    ));
    assert_eq!(
        audit_rows(conn, &a) + audit_rows(conn, &b),
        before,
        "refusals wrote to the audit log"
    );

    // A name with SQL metacharacters is just a name.
    let odd = format!("{b}'; DROP TABLE IMDepart; --");
    department::rename(conn, ACTOR, sub, &odd).unwrap();
    department::move_to(conn, ACTOR, sub, 0).unwrap();
    let listed = department::list(conn).unwrap();
    let found = listed.iter().find(|d| d.id == sub).unwrap();
    assert_eq!((found.name.as_str(), found.parent), (odd.as_str(), 0));
    department::delete(conn, ACTOR, sub).unwrap();
    department::delete(conn, ACTOR, top).unwrap();
    let mine = [format!("department {top} "), format!("department {sub} ")];
    let log: Vec<_> = audit::recent(conn, 200)
        .unwrap()
        .into_iter()
        .filter(|e| mine.iter().any(|m| e.target.starts_with(m.as_str())))
        .take(4)
        .collect();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "department.delete",
            "department.delete",
            "department.move",
            "department.rename"
        ]
    );
    assert!(log.iter().all(|e| e.actor == ACTOR));
}

#[test]
fn a_created_user_logs_in_is_refused_when_disabled_and_sees_its_group() {
    let cluster = TestCluster::start();
    let mut db = mysql_conn(&cluster);
    let conn = &mut db;
    let dept = department::add(conn, ACTOR, &unique_name("team"), 0).unwrap();
    let name = unique_name("new");
    let new = NewUser {
        name: name.clone(),
        nick: "New Person".into(),
        password: "s3cret".into(),
        depart: dept,
        sex: 2,
        email: "new@example.org".into(),
        phone: "0123456789".into(),
    };
    let id = user::add(conn, ACTOR, &new).unwrap();
    let before = audit_rows(conn, &name);
    assert!(matches!(
        user::add(conn, ACTOR, &new),
        Err(AdminError::Exists(_))
    ));
    assert_eq!(user_rows(conn, &name), 1);
    assert_eq!(audit_rows(conn, &name), before);

    let as_test_user = |password: &str| TestUser {
        id,
        name: name.clone(),
        password: password.into(),
        nick: new.nick.clone(),
    };
    let (client, info) = cluster.try_login(0, &as_test_user("s3cret")).unwrap();
    assert_eq!(info.user.user_id, id);
    drop(client);

    user::set_enabled(conn, ACTOR, &name, false).unwrap();
    assert!(cluster.try_login(0, &as_test_user("s3cret")).is_err());
    user::set_enabled(conn, ACTOR, &name, true).unwrap();
    user::set_password(conn, ACTOR, &name, "n3w").unwrap();
    assert!(cluster.try_login(0, &as_test_user("s3cret")).is_err());
    let (client, _) = cluster.try_login(0, &as_test_user("n3w")).unwrap();
    drop(client);
    assert!(matches!(
        user::set_enabled(conn, ACTOR, "nobody-by-this-name", false),
        Err(AdminError::NotFound(_))
    ));

    // A group made through http_msg_server: the new user sees it in its group list.
    let owner = cluster.create_user("owner");
    let http = cluster.start_http_msg_server("");
    let server = HttpMsgServer {
        addr: http.local_addrs()[0].to_string(),
        app_key: String::new(),
    };
    let group = wait_created(&server, owner.id, &[owner.id]);
    server
        .change_members(owner.id, group, Change::Add, &[id])
        .unwrap();
    let client = cluster.login(0, &as_test_user("n3w"));
    let groups = client.group_list().unwrap().group_version_list;
    assert!(groups.iter().any(|g| g.group_id == group), "{groups:?}");

    clean(conn, &[&name], &[dept]);
}

/// Creates a group once http_msg_server's db_proxy link is up (it answers "no db_proxy" until
/// then).
fn wait_created(server: &HttpMsgServer, owner: u32, members: &[u32]) -> u32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        match server.create_group(owner, &unique_name("grp"), members) {
            Ok(id) => return id,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("no group created: {e}"),
        }
    }
}

#[test]
fn a_csv_import_is_all_or_nothing() {
    let cluster = TestCluster::start();
    let mut db = mysql_conn(&cluster);
    let conn = &mut db;
    let dept_name = unique_name("imp");
    let dept = department::add(conn, ACTOR, &dept_name, 0).unwrap();
    let (u1, u2) = (unique_name("csv1"), unique_name("csv2"));

    let bad = format!("name,password,department\n{u1},pw,{dept_name}\n{u2},pw,No Such Dept\n");
    match import::users(conn, ACTOR, &bad) {
        Err(AdminError::Line { line: 3, error }) => {
            assert!(matches!(*error, AdminError::NotFound(_)), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((user_rows(conn, &u1), user_rows(conn, &u2)), (0, 0));
    assert_eq!(audit_rows(conn, &u1), 0);

    let good = format!("# staff\n{u1},pw1,{dept_name},One\n\n{u2},pw2,{dept_name},,,,1\n");
    let ids = import::users(conn, ACTOR, &good).unwrap();
    assert_eq!(ids.len(), 2);
    let listed = user::list(conn, &u1, 10).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].nick.as_str(), listed[0].depart, listed[0].enabled),
        ("One", dept, true)
    );
    clean(conn, &[&u1, &u2], &[dept]);
}

/// The original schema leaves `IMUser.status` and `avatar` nullable, and other tools (the
/// original's PHP admin, hand-written SQL) leave such rows behind: they are listed, found and
/// shown as disabled (db_proxy's login query does not match a NULL status), never a panic.
#[test]
fn rows_with_null_columns_are_read_as_disabled_users() {
    let mut db = mysql::Conn::new(testkit::TestEnv::from_env().mysql_opts()).unwrap();
    let conn = &mut db;
    let dept = department::add(conn, ACTOR, &unique_name("nulls"), 0).unwrap();
    let name = unique_name("nullstatus");
    let new = NewUser {
        name: name.clone(),
        nick: "Null Status".into(),
        password: "s3cret".into(),
        depart: dept,
        sex: 0,
        email: String::new(),
        phone: String::new(),
    };
    let id = user::add(conn, ACTOR, &new).unwrap();
    conn.exec_drop(
        "UPDATE IMUser SET status = NULL, avatar = NULL WHERE id = ?",
        (id,),
    )
    .unwrap();

    let listed = user::list(conn, &name, 10).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert!(!listed[0].enabled, "a NULL status cannot log in");
    let (found, profile) = user::find(conn, &name).unwrap();
    assert_eq!((found.id, found.enabled), (id, false));
    assert_eq!(profile.nick, "Null Status");
    assert_eq!(user::by_ids(conn, &[id]).unwrap(), listed);

    clean(conn, &[&name], &[dept]);
}
