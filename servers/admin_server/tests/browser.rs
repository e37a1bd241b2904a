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

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use mysql::prelude::Queryable;
use serde_json::{Value, json};
use support::{Console, closed_addr};
use testkit::{TestCluster, TestUser, unique_name};

const WAIT: Duration = Duration::from_secs(20);
/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process with one browser session; both end when dropped.
struct WebDriver {
    process: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl WebDriver {
    async fn start() -> Self {
        let chromedriver = find_program("chromedriver").expect(
            "chromedriver not found: install Debian's chromium and chromium-driver \
             (scripts/services.sh --browser does)",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut driver = Self {
            process,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await;
            if let Ok(answer) = ready {
                let status: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
                if status["value"]["ready"] == json!(true) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut chrome = json!({
            // Root in a container: no sandbox; /dev/shm may be small.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1100,800"],
        });
        if let Some(binary) = find_program("chromium") {
            chrome["binary"] = json!(binary);
        }
        let created = driver
            .call(
                "POST",
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome", "goog:chromeOptions": chrome}}}),
            )
            .await;
        driver.session = created["sessionId"].as_str().unwrap().to_owned();
        driver
    }

    /// One WebDriver command; its `value`, or a panic naming the error.
    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let request = match method {
            "GET" => self.http.get(url),
            _ => self
                .http
                .post(url)
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        };
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let value: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {found}"))
            .to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call("POST", &format!("/element/{element}/click"), json!({}))
            .await;
    }

    async fn source(&self) -> String {
        self.call("GET", "/source", Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The page source once it contains `text` (a click that submits a form can return before
    /// the next page has loaded).
    async fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let page = self.source().await;
            if page.contains(text) {
                return page;
            }
            assert!(Instant::now() < deadline, "no {text:?} in {page}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves the page as `name`.png when `TT_SCREENSHOTS` names a directory.
    async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("TT_SCREENSHOTS") else {
            return;
        };
        // Relative to the workspace, not to this crate (cargo runs tests in the crate).
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir);
        let png = self.call("GET", "/screenshot", Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}

impl Drop for WebDriver {
    fn drop(&mut self) {
        // Killing chromedriver would leave its browser running: the session is ended first,
        // which closes the browser. Drop cannot wait on the async client, so a blocking
        // request does it (also after a failed assertion).
        if !self.session.is_empty() {
            let _ = end_session(&self.base, &self.session);
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// `DELETE /session/{id}` on a blocking connection; waits for chromedriver's answer, which
/// comes once the browser has quit.
fn end_session(base: &str, session: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let authority = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(WAIT))?;
    write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(())
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

#[tokio::test]
async fn a_browser_creates_a_department_a_user_and_a_group_that_the_user_then_sees() {
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
    let browser = WebDriver::start().await;

    browser.goto(&console.url("/login")).await;
    browser.screenshot("sign-in").await;
    browser.type_into("input[name=name]", &console.admin).await;
    browser
        .type_into("input[name=password]", &console.password)
        .await;
    browser.click("button[type=submit]").await;
    browser.wait_for("<h1>Dashboard</h1>").await;
    browser.screenshot("dashboard").await;

    let department = unique_name("Browser Dept");
    browser.goto(&console.url("/departments")).await;
    browser
        .type_into(
            "form[action='/departments/add'] input[name=name]",
            &department,
        )
        .await;
    browser
        .click("form[action='/departments/add'] button")
        .await;
    browser
        .wait_for(&format!("Department {department} created"))
        .await;
    browser.screenshot("departments").await;
    let mut db = console.db();
    let dept_id: u32 = db
        .exec_first(
            "SELECT id FROM IMDepart WHERE departName = ?",
            (&department,),
        )
        .unwrap()
        .unwrap();

    let name = unique_name("bu");
    browser.goto(&console.url("/users")).await;
    let form = "form[action='/users/add']";
    browser
        .type_into(&format!("{form} input[name=name]"), &name)
        .await;
    browser
        .type_into(&format!("{form} input[name=nick]"), "Browser User")
        .await;
    browser
        .type_into(&format!("{form} input[name=password]"), "br0wser")
        .await;
    browser
        .click(&format!(
            "{form} select[name=depart] option[value='{dept_id}']"
        ))
        .await;
    browser.click(&format!("{form} button")).await;
    browser.wait_for(&format!("User {name} created")).await;
    browser.screenshot("users").await;
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
        browser.goto(&console.url("/groups")).await;
        let form = "form[action='/groups/add']";
        browser
            .type_into(&format!("{form} input[name=name]"), &group)
            .await;
        browser
            .type_into(&format!("{form} input[name=owner]"), &owner.name)
            .await;
        browser
            .type_into(&format!("{form} input[name=members]"), &name)
            .await;
        browser.click(&format!("{form} button")).await;
        // Either the notice or http_msg_server's refusal.
        let page = browser.wait_for("role=\"").await;
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
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    cluster.fixtures().adopt_group(group_id);
    browser.screenshot("groups").await;
    browser
        .goto(&console.url(&format!("/groups/view?id={group_id}")))
        .await;
    assert!(browser.source().await.contains(&name));
    browser.screenshot("group").await;
    browser.goto(&console.url("/audit")).await;
    assert!(browser.source().await.contains("group.create"));
    browser.screenshot("audit").await;

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
