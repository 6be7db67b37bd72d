//! The OAuth test kit (`testkit/oidc-provider.mjs`, a real oidc-provider
//! under Node.js) and a tiny plain-HTTP GET for endpoints the SDK does not
//! model (`/.well-known/jwks.json`, `/__testkit/stats`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// Root of the repository (this package lives in `compat/rust-sdk`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// One HTTP answer: status, headers (names lower-cased) and body.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// `GET url` over a plain TCP connection (HTTP/1.0, so the answer is
/// close-delimited and never chunked). Only `http://HOST:PORT/PATH`.
pub fn http_get(url: &str) -> HttpAnswer {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("http_get: not an http:// URL: {url}"));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream =
        TcpStream::connect(authority).unwrap_or_else(|e| panic!("connect {authority}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("read answer of GET {url}: {e}"));
    let raw = String::from_utf8(raw).expect("UTF-8 answer");
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header/body separator in answer of GET {url}: {raw:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpAnswer {
        status,
        headers,
        body: body.to_string(),
    }
}

static NPM_CI: Mutex<()> = Mutex::new(());

/// Installs the test kit's npm packages (`npm ci --prefix testkit`) unless
/// they are there already.
fn ensure_testkit_installed(root: &Path) {
    let _guard = NPM_CI.lock().unwrap_or_else(|e| e.into_inner());
    if root.join("testkit/node_modules/oidc-provider").is_dir() {
        return;
    }
    let status = Command::new("npm")
        .args([
            "ci",
            "--prefix",
            "testkit",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .current_dir(root)
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("run `npm ci --prefix testkit` (is Node.js installed?): {e}"));
    assert!(
        status.success(),
        "`npm ci --prefix testkit` failed: {status}"
    );
}

/// A running `node testkit/oidc-provider.mjs --port 0`; SIGTERMed on drop
/// (also when the test panics).
pub struct OidcProvider {
    child: Option<Child>,
    /// The ready line, parsed.
    pub ready: serde_json::Value,
    pub issuer: String,
    _log_dir: tempfile::TempDir,
    log_path: PathBuf,
}

impl OidcProvider {
    pub fn start(extra_args: &[&str]) -> OidcProvider {
        let root = repo_root();
        ensure_testkit_installed(&root);
        let log_dir = tempfile::Builder::new()
            .prefix("warrant-rust-sdk-testkit-")
            .tempdir()
            .expect("tempdir");
        let log_path = log_dir.path().join("oidc-provider-stderr.log");
        let log = std::fs::File::create(&log_path).expect("create log file");
        let mut child = Command::new("node")
            .arg("testkit/oidc-provider.mjs")
            .args(["--port", "0"])
            .args(extra_args)
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn node testkit/oidc-provider.mjs: {e}"));

        // First stdout line is the ready line; keep draining afterwards.
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let mut first = true;
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if first {
                            let _ = tx.send(line.trim_end().to_string());
                            first = false;
                        }
                    }
                }
            }
        });

        let mut kit = OidcProvider {
            child: Some(child),
            ready: serde_json::Value::Null,
            issuer: String::new(),
            _log_dir: log_dir,
            log_path,
        };
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => panic!(
                "oidc-provider printed no ready line within 60s\nstderr:\n{}",
                kit.log_tail()
            ),
        };
        kit.ready = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "oidc-provider ready line is not JSON ({e})\nstderr:\n{}",
                kit.log_tail()
            )
        });
        kit.issuer = kit.ready["issuer"]
            .as_str()
            .expect("issuer in the ready line")
            .to_string();
        kit
    }

    /// `(client_id, client_secret)` of the `basic` or `post` client.
    pub fn client(&self, which: &str) -> (String, String) {
        let c = &self.ready["clients"][which];
        (
            c["client_id"].as_str().expect("client_id").to_string(),
            c["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_string(),
        )
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// `GET /__testkit/stats`.
    pub fn stats(&self) -> serde_json::Value {
        let answer = http_get(&format!("{}/__testkit/stats", self.issuer));
        assert_eq!(answer.status, 200, "stats: {answer:?}");
        answer.json()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "---- oidc-provider stderr (last lines) ----\n{}\n---- end ----",
                self.log_tail()
            );
        }
    }
}
