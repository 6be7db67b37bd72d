//! The OAuth test kit (`testkit/oidc-provider.mjs`, a real oidc-provider
//! under Node.js), a tiny plain-HTTP client for endpoints the SDK does not
//! model (`/.well-known/jwks.json`, `/__testkit/stats`, `/reg`), and a
//! scripted browser for 3-legged OAuth ([`Browser`]).

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

    /// Every value of a header (e.g. `set-cookie`), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// `GET url` over a plain TCP connection (HTTP/1.0, so the answer is
/// close-delimited and never chunked). Only `http://HOST:PORT/PATH`.
pub fn http_get(url: &str) -> HttpAnswer {
    http_request("GET", url, &[], None)
}

/// One request over a plain TCP connection: HTTP/1.0 (the answer is
/// close-delimited, never chunked), no redirect followed. Only
/// `http://HOST:PORT/PATH`. `body` is sent with a `Content-Length`.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> HttpAnswer {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("http_request: not an http:// URL: {url}"));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream =
        TcpStream::connect(authority).unwrap_or_else(|e| panic!("connect {authority}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
    {
        head.push_str("Accept: */*\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.unwrap_or_default());
    stream.write_all(&out).unwrap();
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("read answer of {method} {url}: {e}"));
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header/body separator in answer of {method} {url}: {raw:?}"));
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

    /// RFC 7591 registration (`POST /reg`) of a confidential web client for
    /// the code flow with refresh tokens, `client_secret_basic`, whose only
    /// redirect URI is `redirect_uri` (warrant's callback URL). Returns the
    /// registration response (`client_id`, `client_secret`, ...).
    pub fn register_client(&self, redirect_uri: &str) -> serde_json::Value {
        let doc = serde_json::json!({
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "application_type": "web",
        });
        let body = doc.to_string();
        let answer = http_request(
            "POST",
            &format!("{}/reg", self.issuer),
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
        );
        assert_eq!(
            answer.status, 201,
            "client registration refused: {answer:?}"
        );
        answer.json()
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

// ---------------------------------------------------------------------------
// A scripted browser for 3-legged OAuth
// ---------------------------------------------------------------------------

/// `application/x-www-form-urlencoded` of `pairs` (also a URL query).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes one form-urlencoded component (`+` is a space).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).expect("percent-decoded UTF-8")
}

/// The query parameters of `url`, decoded, in order.
pub fn query_params(url: &str) -> Vec<(String, String)> {
    let Some((_, q)) = url.split_once('?') else {
        return Vec::new();
    };
    let q = q.split('#').next().unwrap_or_default();
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The last value of query parameter `name` of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    query_params(url)
        .into_iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// `scheme://authority` of an absolute URL.
pub fn origin_of(url: &str) -> &str {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find(['/', '?', '#']) {
        Some(i) => &url[..after + i],
        None => url,
    }
}

/// `loc` (a Location header or a form action) resolved against `base`.
fn join_url(base: &str, loc: &str) -> String {
    if loc.contains("://") {
        loc.to_string()
    } else if loc.starts_with('/') {
        format!("{}{loc}", origin_of(base))
    } else {
        let path_end = base.find('?').unwrap_or(base.len());
        let dir = &base[..base[..path_end]
            .rfind('/')
            .map(|i| i + 1)
            .unwrap_or(path_end)];
        format!("{dir}{loc}")
    }
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x2F;", "/")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = text.find(start)? + start.len();
    let j = text[i..].find(end)?;
    Some(&text[i..i + j])
}

/// Just enough of a user agent for the 3LO flow: cookies per origin (every
/// cookie of an origin sent to every path of it), no automatic redirects,
/// and a map from public origins to where they really listen (warrant's
/// public URL `https://warrant.example.test` -> `http://127.0.0.1:PORT`),
/// so the URLs warrant hands out are followed as they are. Every hop is
/// kept in `hops` (method, URL, status) for failure messages.
pub struct Browser {
    hosts: Vec<(String, String)>,
    cookies: std::collections::HashMap<String, Vec<(String, String)>>,
    pub hops: Vec<String>,
}

impl Browser {
    pub fn new(hosts: &[(&str, &str)]) -> Browser {
        Browser {
            hosts: hosts
                .iter()
                .map(|(a, b)| {
                    (
                        a.trim_end_matches('/').into(),
                        b.trim_end_matches('/').into(),
                    )
                })
                .collect(),
            cookies: Default::default(),
            hops: Vec::new(),
        }
    }

    /// Where `url` really is (public origins mapped).
    pub fn real(&self, url: &str) -> String {
        let origin = origin_of(url);
        for (public, real) in &self.hosts {
            if origin == public {
                return format!("{real}{}", &url[origin.len()..]);
            }
        }
        url.to_string()
    }

    /// One request (a form is POSTed form-urlencoded); cookies sent and kept.
    /// Returns the answer and its Location resolved against `url`.
    pub fn request(
        &mut self,
        method: &str,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> (HttpAnswer, Option<String>) {
        let real = self.real(url);
        assert!(
            real.starts_with("http://127.0.0.1:"),
            "the browser refuses to leave the machine: {url}"
        );
        let origin = origin_of(&real).to_string();
        let jar = self.cookies.entry(origin).or_default();
        let cookie = jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut headers = vec![("Accept", "text/html")];
        if !cookie.is_empty() {
            headers.push(("Cookie", cookie.as_str()));
        }
        let body = form.map(form_encode);
        if body.is_some() {
            headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        }
        let answer = http_request(method, &real, &headers, body.as_deref().map(str::as_bytes));
        for raw in answer.header_all("set-cookie") {
            let pair = raw.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (name, value) = (name.trim().to_string(), value.trim().to_string());
            jar.retain(|(k, _)| *k != name);
            let expired = raw
                .to_ascii_lowercase()
                .contains("expires=thu, 01 jan 1970");
            if !value.is_empty() && !expired {
                jar.push((name, value));
            }
        }
        self.hops
            .push(format!("{method} {url} -> {}", answer.status));
        let location = answer.header("location").map(|l| join_url(url, l));
        (answer, location)
    }

    /// The provider's side, from its authorization URL: oidc-provider's
    /// development login page (any login name, any password) and consent
    /// page are submitted; redirects within the provider are followed.
    /// Returns the first redirect that leaves the provider (warrant's
    /// callback URL with code, state and iss), not followed.
    pub fn at_provider(&mut self, provider_url: &str, username: &str) -> String {
        let provider_origin = origin_of(&self.real(provider_url)).to_string();
        let mut url = provider_url.to_string();
        let mut form: Option<Vec<(&str, &str)>> = None;
        for _ in 0..20 {
            let method = if form.is_some() { "POST" } else { "GET" };
            let (answer, location) = self.request(method, &url, form.as_deref());
            form = None;
            if matches!(answer.status, 302 | 303) {
                let loc = location.expect("a redirect without Location");
                if origin_of(&self.real(&loc)) != provider_origin {
                    return loc;
                }
                url = loc;
                continue;
            }
            if answer.status == 200 && url.contains("/interaction/") {
                let prompt = between(&answer.body, "name=\"prompt\" value=\"", "\"");
                form = Some(match prompt {
                    Some("login") => vec![
                        ("prompt", "login"),
                        ("login", username),
                        ("password", "any-password"),
                    ],
                    Some("consent") => vec![("prompt", "consent")],
                    other => panic!(
                        "unexpected interaction page (prompt {other:?}): {}",
                        &answer.body[..answer.body.len().min(400)]
                    ),
                });
                if let Some(action) = between(&answer.body, "<form", ">")
                    .and_then(|tag| between(tag, "action=\"", "\""))
                {
                    url = join_url(&url, &html_unescape(action));
                }
                continue;
            }
            panic!(
                "the provider answered {} at {url}: {}; hops {:#?}",
                answer.status,
                &answer.body[..answer.body.len().min(400)],
                self.hops
            );
        }
        panic!("the provider never redirected back: {:#?}", self.hops);
    }
}
