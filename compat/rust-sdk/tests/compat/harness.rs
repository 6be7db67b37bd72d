//! Starts the real `warrant` binary and builds SDK clients pointed at it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_bedrockagentcorecontrol as sdk;
use sdk::config::http::HttpResponse;
use sdk::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use sdk::config::{
    retry::RetryConfig, BehaviorVersion, ConfigBag, Credentials, Intercept, Region,
    RuntimeComponents,
};
use sdk::error::{DisplayErrorContext, SdkError};
use sdk::Client;

/// The data-plane SDK (`bedrock-agentcore`): same release line, same runtime
/// types (`SdkError`, `Intercept`, `HttpResponse` are shared re-exports).
pub use aws_sdk_bedrockagentcore as data_sdk;

pub const REGION: &str = "us-west-2";
pub const ACCOUNT: &str = "123456789012";
pub const PUBLIC_URL: &str = "https://warrant.example.test";
pub const ADMIN_KEY_ID: &str = "AKIDRUSTSDK0000000001";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Path of the server binary: `$WARRANT_BIN`, else `<repo>/target/debug/warrant`.
pub fn warrant_bin() -> PathBuf {
    match std::env::var_os("WARRANT_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/warrant"),
    }
}

/// `len` random characters from the alphabet AWS uses for secret keys.
pub fn random_string(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// Like [`random_string`] but only `[A-Za-z0-9]`.
pub fn random_alnum(len: usize) -> String {
    let mut out = String::new();
    while out.len() < len {
        out.extend(
            random_string(len)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric()),
        );
    }
    out.truncate(len);
    out
}

/// One HTTP exchange seen by the SDK (recorded after deserialization).
#[derive(Clone, Debug)]
pub struct Exchange {
    pub request: String,
    pub status: u16,
    pub request_id: Option<String>,
    pub body: String,
}

/// Interceptor that records every raw response the SDK receives, so tests
/// can check what was on the wire (not just what the SDK deserialized).
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    pending: Arc<Mutex<Option<String>>>,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl Recorder {
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }

    /// Panics if any recorded response body contains `needle`.
    pub fn assert_never_returned(&self, needle: &str, what: &str) {
        assert!(!needle.is_empty());
        for ex in self.exchanges() {
            assert!(
                !ex.body.contains(needle),
                "{what} was returned on the wire by `{}` (status {}): {}",
                ex.request,
                ex.status,
                ex.body
            );
        }
    }

    /// Panics if any recorded response lacks the `x-amzn-RequestId` header.
    pub fn assert_all_have_request_id(&self) {
        let all = self.exchanges();
        assert!(!all.is_empty(), "recorder saw no responses");
        for ex in all {
            assert!(
                ex.request_id.as_deref().is_some_and(|s| !s.is_empty()),
                "response to `{}` (status {}) has no x-amzn-RequestId header",
                ex.request,
                ex.status
            );
        }
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "WarrantCompatRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request();
        *self.pending.lock().unwrap() = Some(format!("{} {}", req.method(), req.uri()));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let resp = context.response();
        let body = resp
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_else(|| "<streaming body>".to_string());
        let request_id = resp
            .headers()
            .get("x-amzn-RequestId")
            .map(|s| s.to_string());
        let request = self.pending.lock().unwrap().take().unwrap_or_default();
        self.exchanges.lock().unwrap().push(Exchange {
            request,
            status: resp.status().as_u16(),
            request_id,
            body,
        });
        Ok(())
    }
}

/// Builds a data-plane SDK client (`bedrock-agentcore`: workload access
/// tokens, API keys, OAuth2 tokens) like [`make_client`]: plain HTTP, static
/// credentials, no retries.
pub fn make_data_client(
    endpoint: &str,
    key_id: &str,
    secret: &str,
    region: &str,
    recorder: &Recorder,
) -> data_sdk::Client {
    let http_client = aws_smithy_http_client::Builder::new().build_http();
    let config = data_sdk::Config::builder()
        .behavior_version(data_sdk::config::BehaviorVersion::latest())
        .region(data_sdk::config::Region::new(region.to_string()))
        .credentials_provider(data_sdk::config::Credentials::new(
            key_id,
            secret,
            None,
            None,
            "warrant-compat",
        ))
        .endpoint_url(endpoint)
        .http_client(http_client)
        .retry_config(data_sdk::config::retry::RetryConfig::disabled())
        .interceptor(recorder.clone())
        .build();
    data_sdk::Client::from_conf(config)
}

/// Builds an SDK client with a plain-HTTP (no TLS) hyper 1.x connector.
pub fn make_client(
    endpoint: &str,
    key_id: &str,
    secret: &str,
    region: &str,
    recorder: &Recorder,
) -> Client {
    let http_client = aws_smithy_http_client::Builder::new().build_http();
    let config = sdk::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(
            key_id,
            secret,
            None,
            None,
            "warrant-compat",
        ))
        .endpoint_url(endpoint)
        .http_client(http_client)
        // Surface every server answer as-is: no retries.
        .retry_config(RetryConfig::disabled())
        .interceptor(recorder.clone())
        .build();
    Client::from_conf(config)
}

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub endpoint: String,
    pub admin_secret: String,
    pub data_dir: tempfile::TempDir,
    log_path: PathBuf,
    pub recorder: Recorder,
    /// Responses seen by [`Server::data_client`] clients (they carry
    /// credentials by design, so they are kept apart from `recorder`).
    pub data_recorder: Recorder,
}

impl Server {
    /// Starts `warrant serve` on an ephemeral port with a fresh data dir.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Like [`Server::start`], with extra `warrant serve` arguments
    /// (e.g. `--outbound-allow 127.0.0.1`).
    pub fn start_with(extra_args: &[&str]) -> Server {
        let bin = warrant_bin();
        assert!(
            bin.exists(),
            "warrant binary not found at {} (build it with `cargo build -p warrant` in the repo \
             root, or set WARRANT_BIN)",
            bin.display()
        );
        let data_dir = tempfile::Builder::new()
            .prefix("warrant-rust-sdk-")
            .tempdir()
            .expect("tempdir");
        let log_path = data_dir.path().join("server-stderr.log");
        let log = std::fs::File::create(&log_path).expect("create log file");
        let admin_secret = random_string(40);
        let mut child = Command::new(&bin)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .args([
                "--region",
                REGION,
                "--account-id",
                ACCOUNT,
                "--public-url",
                PUBLIC_URL,
            ])
            .args(extra_args)
            .env("WARRANT_ADMIN_ACCESS_KEY_ID", ADMIN_KEY_ID)
            .env("WARRANT_ADMIN_SECRET_ACCESS_KEY", &admin_secret)
            .env_remove("WARRANT_LISTEN")
            .env_remove("WARRANT_DATA_DIR")
            .env_remove("WARRANT_DATABASE_URL")
            .env_remove("WARRANT_CONFIG")
            .env_remove("WARRANT_MASTER_KEY")
            .env_remove("WARRANT_PUBLIC_URL")
            .env_remove("WARRANT_OUTBOUND_ALLOW")
            .env_remove("WARRANT_WAT_TTL")
            .env_remove("WARRANT_SIGNING_KEY_ROTATION")
            .env_remove("WARRANT_DISCOVERY_TTL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));

        // Read stdout on a thread: the first line carries the port; keep
        // draining afterwards so the server never writes to a closed pipe.
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

        let mut server = Server {
            child: Some(child),
            port: 0,
            endpoint: String::new(),
            admin_secret,
            data_dir,
            log_path,
            recorder: Recorder::default(),
            data_recorder: Recorder::default(),
        };
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let status = server.child.as_mut().unwrap().try_wait().ok().flatten();
                panic!(
                    "warrant did not print its listening line within 60s (exit status: {status:?})\n\
                     stderr:\n{}",
                    server.log_tail()
                );
            }
        };
        let prefix = "warrant listening on http://127.0.0.1:";
        let port: u16 = line
            .strip_prefix(prefix)
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first stdout line {line:?}, want `{prefix}PORT`\nstderr:\n{}",
                    server.log_tail()
                )
            });
        assert_ne!(port, 0, "server reported port 0");
        server.port = port;
        server.endpoint = format!("http://127.0.0.1:{port}");
        server
    }

    /// Admin client (policy Allow *) with the response recorder attached.
    pub fn client(&self) -> Client {
        make_client(
            &self.endpoint,
            ADMIN_KEY_ID,
            &self.admin_secret,
            REGION,
            &self.recorder,
        )
    }

    /// Data-plane client (admin key), recording into `data_recorder`.
    pub fn data_client(&self) -> data_sdk::Client {
        make_data_client(
            &self.endpoint,
            ADMIN_KEY_ID,
            &self.admin_secret,
            REGION,
            &self.data_recorder,
        )
    }

    /// Client with arbitrary credentials / region (gets its own recorder).
    pub fn client_with(&self, key_id: &str, secret: &str, region: &str) -> Client {
        make_client(&self.endpoint, key_id, secret, region, &Recorder::default())
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(60);
        lines[start..].join("\n")
    }

    /// Runs the admin CLI against this server's data dir.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(warrant_bin())
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .env_remove("WARRANT_MASTER_KEY")
            .env_remove("WARRANT_DATABASE_URL")
            .env_remove("WARRANT_DATA_DIR")
            .stdin(Stdio::null())
            .output()
            .expect("run warrant CLI")
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// SIGTERM the server and check it drains and exits 0.
    pub fn shutdown(mut self) {
        let status = self.terminate();
        match status {
            Some(s) if s.success() => {}
            other => panic!(
                "warrant did not exit 0 within 15s of SIGTERM (status: {other:?})\nstderr:\n{}",
                self.log_tail()
            ),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.terminate();
            if std::thread::panicking() {
                eprintln!(
                    "---- warrant stderr (last lines) ----\n{}\n---- end ----",
                    self.log_tail()
                );
            }
        }
    }
}

/// Asserts that `{:?}` of `value` does not contain `secret`.
pub fn assert_debug_hides<T: Debug>(value: &T, secret: &str, what: &str) {
    let dbg = format!("{value:?}");
    assert!(
        !dbg.contains(secret),
        "{what}: output Debug contains the secret: {dbg}"
    );
}

pub fn tags(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn wi_arn(name: &str) -> String {
    format!(
        "arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:workload-identity-directory/default/workload-identity/{name}"
    )
}

pub fn oauth2_arn(name: &str) -> String {
    format!("arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:token-vault/default/oauth2credentialprovider/{name}")
}

pub fn apikey_arn(name: &str) -> String {
    format!("arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:token-vault/default/apikeycredentialprovider/{name}")
}

pub fn secret_arn_prefix() -> String {
    format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:")
}

/// Unwraps an SDK result, panicking with the error chain and raw body.
pub fn must<O, E>(res: Result<O, SdkError<E, HttpResponse>>, what: &str) -> O
where
    E: std::error::Error + 'static,
{
    match res {
        Ok(o) => o,
        Err(e) => {
            let body = e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            let status = e.raw_response().map(|r| r.status().as_u16());
            panic!(
                "{what}: unexpected error: {} (HTTP status {status:?}, body {body})",
                DisplayErrorContext(&e)
            )
        }
    }
}

/// Expects a modeled/unmodeled *service* error (the server answered with an
/// error status); returns it with the HTTP status code.
pub fn service_error<O, E>(res: Result<O, SdkError<E, HttpResponse>>, what: &str) -> (E, u16)
where
    O: Debug,
    E: std::error::Error + 'static,
{
    match res {
        Ok(o) => panic!("{what}: expected an error, got Ok({o:?})"),
        Err(SdkError::ServiceError(se)) => {
            let status = se.raw().status().as_u16();
            (se.into_err(), status)
        }
        Err(other) => panic!(
            "{what}: expected a service error, got {}",
            DisplayErrorContext(&other)
        ),
    }
}
