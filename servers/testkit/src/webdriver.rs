//! A headless Chromium driven through chromedriver's W3C WebDriver HTTP API, for the tests
//! that need a real browser (the admin console, the web client). Blocking, over plain
//! `std::net::TcpStream` HTTP/1.1 to chromedriver on 127.0.0.1.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/services.sh --browser` installs
//! them). Like the rest of testkit it panics with the reason on any failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// How long starting chromedriver, a command, or [`WebDriver::wait_for`] may take.
pub const WAIT: Duration = Duration::from_secs(20);
/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process with one browser session; both end when dropped.
#[derive(Debug)]
pub struct WebDriver {
    process: Child,
    /// chromedriver's `127.0.0.1:port`.
    authority: String,
    session: String,
}

impl WebDriver {
    /// Starts chromedriver and a headless browser.
    pub fn start() -> Self {
        Self::start_with_args(&[])
    }

    /// Like [`WebDriver::start`], with extra Chromium command-line switches (e.g.
    /// `--ignore-certificate-errors` for a test certificate).
    pub fn start_with_args(extra: &[&str]) -> Self {
        let chromedriver = find_program("chromedriver").expect(
            "chromedriver not found: install Debian's chromium and chromium-driver \
             (scripts/services.sh --browser does)",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("no free port for chromedriver")
            .port();
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start chromedriver");
        let mut driver = Self {
            process,
            authority: format!("127.0.0.1:{port}"),
            session: String::new(),
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok((_, status)) = driver.request("GET", "/status", None) {
                if status["value"]["ready"] == json!(true) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        // Root in a container: no sandbox; /dev/shm may be small.
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1100,800",
        ];
        args.extend_from_slice(extra);
        let mut chrome = json!({ "args": args });
        if let Some(binary) = find_program("chromium") {
            chrome["binary"] = json!(binary);
        }
        let created = driver.call(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome", "goog:chromeOptions": chrome}}}),
        );
        driver.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {created}"))
            .to_owned();
        driver
    }

    /// One HTTP request to chromedriver: the status code and the JSON answer.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        let mut stream = TcpStream::connect(&self.authority)?;
        stream.set_read_timeout(Some(WAIT * 3))?;
        let body = body.map(Value::to_string).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.authority,
            body.len()
        )?;
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line)?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = None;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                }
            }
        }
        let mut raw = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size)?;
                let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                if size == 0 {
                    break;
                }
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk)?;
                raw.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(length) = length {
            raw.resize(length, 0);
            reader.read_exact(&mut raw)?;
        } else {
            reader.read_to_end(&mut raw)?;
        }
        let value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// One WebDriver command of this session (`path` below `/session/{id}`, or `/session`
    /// itself); its `value`, or a panic naming the error.
    pub fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let path = if path == "/session" {
            path.to_owned()
        } else {
            format!("/session/{}{path}", self.session)
        };
        let body = (method != "GET").then_some(&body);
        let (status, value) = self
            .request(method, &path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value["value"].clone()
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    /// The reference of the first element matching `css`; panics when there is none.
    pub fn find(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {found}"))
            .to_owned()
    }

    /// Types `text` into the element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        );
    }

    /// Empties the input matching `css`.
    pub fn clear(&self, css: &str) {
        let element = self.find(css);
        self.call("POST", &format!("/element/{element}/clear"), json!({}));
    }

    /// Clicks the element matching `css`.
    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.call("POST", &format!("/element/{element}/click"), json!({}));
    }

    /// The rendered text of the element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let element = self.find(css);
        let text = self.call("GET", &format!("/element/{element}/text"), Value::Null);
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; its result.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
    }

    /// The page source.
    pub fn source(&self) -> String {
        self.call("GET", "/source", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page source once it contains `text` (a click that submits a form can return before
    /// the next page has loaded).
    pub fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let page = self.source();
            if page.contains(text) {
                return page;
            }
            assert!(Instant::now() < deadline, "no {text:?} in {page}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The rendered text of the element matching `css` once it contains `text`.
    pub fn wait_for_text(&self, css: &str, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let shown = self.text(css);
            if shown.contains(text) {
                return shown;
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} in {css}: {shown:?}\n{}",
                self.source()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The page as PNG bytes.
    pub fn screenshot_png(&self) -> Vec<u8> {
        let png = self.call("GET", "/screenshot", Value::Null);
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("the screenshot is base64")
    }

    /// Saves the page as `dir/name.png` (creating `dir`).
    pub fn save_screenshot(&self, dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).expect("cannot create the screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), self.screenshot_png())
            .expect("cannot write the screenshot");
    }
}

impl Drop for WebDriver {
    fn drop(&mut self) {
        // Killing chromedriver would leave its browser running: the session is ended first
        // (chromedriver answers once the browser has quit), also after a failed assertion.
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = self.request("DELETE", &path, None);
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// `name` in one of the `PATH` directories.
pub fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
