//! The console in a real browser: headless Chromium driven through chromedriver's W3C
//! WebDriver HTTP API signs in, creates a department and a user, and creates a group with
//! that user through the forms; the user then logs in over the wire protocol and sees the
//! group. Needs Debian's `chromium` and `chromium-driver` (`scripts/services.sh --browser`
//! installs them).
//!
//! With `TT_SCREENSHOTS=DIR` the test also saves a PNG of each main page into DIR (the
//! README's pictures come from `TT_SCREENSHOTS=docs/images`).

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use support::{Console, closed_addr};
use testkit::webdriver::WebDriver;
use testkit::{TestCluster, TestUser, unique_name};

const WAIT: Duration = Duration::from_secs(20);

/// Saves the page as `name`.png when `TT_SCREENSHOTS` names a directory.
fn screenshot(browser: &WebDriver, name: &str) {
    let Some(dir) = std::env::var_os("TT_SCREENSHOTS") else {
        return;
    };
    // Relative to the workspace, not to this crate (cargo runs tests in the crate).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(dir);
    browser.save_screenshot(&dir, name);
}

#[test]
fn a_browser_creates_a_department_a_user_and_a_group_that_the_user_then_sees() {
    let cluster = TestCluster::start();
    let http = cluster.start_http_msg_server("MetricsListenIP=127.0.0.1\nMetricsPort=0\n");
    let console = Console::start(
        &http.local_addrs()[0].to_string(),
        &[
            (
                "http_msg_server",
                format!("http://{}", http.metrics_addr().unwrap()),
            ),
            ("push_server", format!("http://{}", closed_addr())),
        ],
    );
    let owner = cluster.create_user("bowner");
    let browser = WebDriver::start();

    browser.goto(&console.url("/login"));
    screenshot(&browser, "sign-in");
    browser.type_into("input[name=name]", &console.admin);
    browser.type_into("input[name=password]", &console.password);
    browser.click("button[type=submit]");
    browser.wait_for("<h1>Dashboard</h1>");
    screenshot(&browser, "dashboard");

    let department = unique_name("Browser Dept");
    browser.goto(&console.url("/departments"));
    browser.type_into(
        "form[action='/departments/add'] input[name=name]",
        &department,
    );
    browser.click("form[action='/departments/add'] button");
    browser.wait_for(&format!("Department {department} created"));
    screenshot(&browser, "departments");
    let mut db = console.db();
    let dept_id: u32 = db
        .exec_first(
            "SELECT id FROM IMDepart WHERE departName = ?",
            (&department,),
        )
        .unwrap()
        .unwrap();

    let name = unique_name("bu");
    browser.goto(&console.url("/users"));
    let form = "form[action='/users/add']";
    browser.type_into(&format!("{form} input[name=name]"), &name);
    browser.type_into(&format!("{form} input[name=nick]"), "Browser User");
    browser.type_into(&format!("{form} input[name=password]"), "br0wser");
    browser.click(&format!(
        "{form} select[name=depart] option[value='{dept_id}']"
    ));
    browser.click(&format!("{form} button"));
    browser.wait_for(&format!("User {name} created"));
    screenshot(&browser, "users");
    let user_id: u32 = db
        .exec_first(
            "SELECT id FROM IMUser WHERE name = ? AND departId = ?",
            (&name, dept_id),
        )
        .unwrap()
        .unwrap();
    cluster.fixtures().adopt_user(user_id);

    // http_msg_server answers "no db_proxy" until its link is up: the page says so, and the
    // form is sent again.
    let group = unique_name("Browser Group");
    let deadline = Instant::now() + WAIT;
    let group_id = loop {
        browser.goto(&console.url("/groups"));
        let form = "form[action='/groups/add']";
        browser.type_into(&format!("{form} input[name=name]"), &group);
        browser.type_into(&format!("{form} input[name=owner]"), &owner.name);
        browser.type_into(&format!("{form} input[name=members]"), &name);
        browser.click(&format!("{form} button"));
        // Either the notice or http_msg_server's refusal.
        let page = browser.wait_for("role=\"");
        let done = format!("Group {group} created (id ");
        if let Some(at) = page.find(&done) {
            let digits: String = page[at + done.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            break digits.parse::<u32>().unwrap();
        }
        assert!(page.contains("http_msg_server"), "{page}");
        assert!(Instant::now() < deadline, "{page}");
        std::thread::sleep(Duration::from_millis(200));
    };
    cluster.fixtures().adopt_group(group_id);
    screenshot(&browser, "groups");
    browser.goto(&console.url(&format!("/groups/view?id={group_id}")));
    assert!(browser.source().contains(&name));
    screenshot(&browser, "group");
    browser.goto(&console.url("/audit"));
    assert!(browser.source().contains("group.create"));
    screenshot(&browser, "audit");

    let user = TestUser {
        id: user_id,
        name,
        password: "br0wser".into(),
        nick: "Browser User".into(),
    };
    let client = cluster.login(0, &user);
    let groups = client.group_list().unwrap().group_version_list;
    assert!(groups.iter().any(|g| g.group_id == group_id), "{groups:?}");
    let info = client.group_info(&[(group_id, 0)]).unwrap();
    assert_eq!(info.group_info_list[0].group_name, group);
    drop(client);
    db.exec_drop("DELETE FROM IMDepart WHERE id = ?", (dept_id,))
        .unwrap();
}
