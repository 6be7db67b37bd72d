//! Configuration: one typed struct, loaded from an optional TOML file, then the
//! environment (`WARRANT_*`), then flags; each later source wins. Every tunable is here,
//! with a default that runs on a laptop. README.md lists them all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Deserialize;

/// A start-up error naming the setting at fault. Printed as one line; exit code 2.
#[derive(Debug)]
pub struct SettingError(pub String);

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingError {}

fn bad(setting: &str, msg: impl std::fmt::Display) -> SettingError {
    SettingError(format!("{setting}: {msg}"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings shared by every command that opens the store.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// TOML file with any of the settings below (keys in snake_case).
    #[arg(long, env = "WARRANT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database, the master key and the bootstrap credentials.
    /// [default: ./warrant-data]
    #[arg(long, env = "WARRANT_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL. [default: sqlite://DATA_DIR/warrant.db]
    #[arg(long, env = "WARRANT_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// AWS region in ARNs and in the SigV4 credential scope. [default: us-east-1]
    #[arg(long, env = "WARRANT_REGION", global = true)]
    pub region: Option<String>,
    /// Twelve-digit account of the bootstrap key, and the default for new keys.
    /// [default: 000000000000]
    #[arg(long, env = "WARRANT_ACCOUNT_ID", global = true)]
    pub account_id: Option<String>,
    /// Log format. [default: text]
    #[arg(long, env = "WARRANT_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// Log filter (tracing EnvFilter syntax, e.g. `info` or `warrant_api=debug`).
    /// [default: info]
    #[arg(long, env = "WARRANT_LOG_LEVEL", global = true)]
    pub log_level: Option<String>,
    /// Readers in the SQLite pool. [default: 4]
    #[arg(long, env = "WARRANT_SQLITE_READERS", global = true)]
    pub sqlite_readers: Option<u32>,
    /// Bytes of the SQLite file mapped into memory. [default: 67108864]
    #[arg(long, env = "WARRANT_SQLITE_MMAP_SIZE", global = true)]
    pub sqlite_mmap_size: Option<u64>,
    /// SQLite page cache per connection, KiB. [default: 8192]
    #[arg(long, env = "WARRANT_SQLITE_CACHE_KIB", global = true)]
    pub sqlite_cache_kib: Option<u32>,
    /// Seconds a database connection waits on a lock. [default: 5]
    #[arg(long, env = "WARRANT_DB_BUSY_TIMEOUT", global = true)]
    pub db_busy_timeout: Option<u64>,
}

/// Settings of `warrant serve`.
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port). [default: 127.0.0.1:8787]
    #[arg(long, env = "WARRANT_LISTEN")]
    pub listen: Option<String>,
    /// Base URL handed to browsers (OAuth callbacks). [default: http://LISTEN]
    #[arg(long, env = "WARRANT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Seconds X-Amz-Date may differ from now. [default: 900]
    #[arg(long, env = "WARRANT_SIGV4_MAX_SKEW")]
    pub sigv4_max_skew: Option<u64>,
    /// Largest request body in bytes; larger ones get 413. [default: 1048576]
    #[arg(long, env = "WARRANT_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Requests in flight at once; beyond it, ThrottlingException. [default: 1024]
    #[arg(long, env = "WARRANT_MAX_CONCURRENT_REQUESTS")]
    pub max_concurrent_requests: Option<usize>,
    /// Rows (access keys, resources) the read cache holds. [default: 10000]
    #[arg(long, env = "WARRANT_CACHE_ENTRIES")]
    pub cache_entries: Option<usize>,
    /// How often, in milliseconds, the server checks for changes made by other
    /// processes (e.g. `warrant keys`), so cached rows go stale for at most this long.
    /// [default: 10]
    #[arg(long, env = "WARRANT_CACHE_REFRESH_MS")]
    pub cache_refresh_ms: Option<u64>,
    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT. [default: 30]
    #[arg(long, env = "WARRANT_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<u64>,
    /// Outbound destinations exempt from the SSRF guard and the https-only rule:
    /// comma-separated host, host:port, IP or CIDR entries. [default: none]
    #[arg(long, env = "WARRANT_OUTBOUND_ALLOW")]
    pub outbound_allow: Option<String>,
    /// Seconds an outbound call (discovery, token endpoint) may take. [default: 10]
    #[arg(long, env = "WARRANT_OUTBOUND_TIMEOUT")]
    pub outbound_timeout: Option<u64>,
    /// Largest outbound response body read, in bytes. [default: 1048576]
    #[arg(long, env = "WARRANT_OUTBOUND_MAX_RESPONSE_BYTES")]
    pub outbound_max_response_bytes: Option<usize>,
    /// Lifetime of a workload access token, in seconds (1 to 86400). [default: 900]
    #[arg(long, env = "WARRANT_WAT_TTL")]
    pub wat_ttl: Option<u64>,
    /// Seconds a WAT signing key signs before the next takes over (at least 60).
    /// [default: 86400]
    #[arg(long, env = "WARRANT_SIGNING_KEY_ROTATION")]
    pub signing_key_rotation: Option<u64>,
    /// Seconds a provider's discovery document is cached. [default: 3600]
    #[arg(long, env = "WARRANT_DISCOVERY_TTL")]
    pub discovery_ttl: Option<u64>,
    /// Clock skew allowed on end users' JWTs (exp, nbf, iat), in seconds (0 to 300).
    /// [default: 60]
    #[arg(long, env = "WARRANT_JWT_CLOCK_SKEW")]
    pub jwt_clock_skew: Option<u64>,
    /// Seconds an issuer's JWKS is used before it is fetched again (1 to 86400).
    /// [default: 600]
    #[arg(long, env = "WARRANT_JWKS_TTL")]
    pub jwks_ttl: Option<u64>,
    /// Least seconds between two fetches of one JWKS caused by an unknown key id or a
    /// failed refresh (0 to 3600). [default: 30]
    #[arg(long, env = "WARRANT_JWKS_REFETCH_INTERVAL")]
    pub jwks_refetch_interval: Option<u64>,
    /// Seconds past its TTL an issuer's last good JWKS keeps validating while it cannot
    /// be fetched; then JWT requests fail closed (0 to 604800). [default: 86400]
    #[arg(long, env = "WARRANT_JWKS_MAX_STALE")]
    pub jwks_max_stale: Option<u64>,
    /// Serve Prometheus metrics at /metrics (true/false). [default: true]
    #[arg(long, env = "WARRANT_METRICS")]
    pub metrics: Option<bool>,
    /// Record the audit trail (true/false); false is for benchmarks only. [default: true]
    #[arg(long, env = "WARRANT_AUDIT")]
    pub audit: Option<bool>,
    /// Seconds between signed audit checkpoints (1 to 86400). [default: 30]
    #[arg(long, env = "WARRANT_AUDIT_CHECKPOINT_INTERVAL")]
    pub audit_checkpoint_interval: Option<u64>,
    /// Also write every committed audit event as a JSON line to `stdout` or to this file.
    #[arg(long, env = "WARRANT_AUDIT_MIRROR")]
    pub audit_mirror: Option<String>,
    /// Seconds an authorization session (user federation) lives (30 to 86400).
    /// [default: 600]
    #[arg(long, env = "WARRANT_SESSION_TTL")]
    pub session_ttl: Option<u64>,
    /// Seconds before expiry a user's token is refreshed; never more than half its
    /// lifetime (0 to 3600). [default: 60]
    #[arg(long, env = "WARRANT_REFRESH_MARGIN")]
    pub refresh_margin: Option<u64>,
    /// TESTS ONLY: send a vendor preset's calls to another origin, keeping the paths
    /// (`GithubOauth2=http://127.0.0.1:4567`); repeatable. The SSRF guard still applies.
    #[arg(long = "danger-vendor-endpoint", value_name = "VENDOR=ORIGIN")]
    pub danger_vendor_endpoint: Vec<String>,
}

/// The TOML file: the same settings, snake_case keys. Unknown keys are refused so a
/// typo does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    region: Option<String>,
    account_id: Option<String>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    sqlite_readers: Option<u32>,
    sqlite_mmap_size: Option<u64>,
    sqlite_cache_kib: Option<u32>,
    db_busy_timeout: Option<u64>,
    listen: Option<String>,
    public_url: Option<String>,
    sigv4_max_skew: Option<u64>,
    max_body_bytes: Option<usize>,
    max_concurrent_requests: Option<usize>,
    shutdown_timeout: Option<u64>,
    cache_entries: Option<usize>,
    cache_refresh_ms: Option<u64>,
    outbound_allow: Option<String>,
    outbound_timeout: Option<u64>,
    outbound_max_response_bytes: Option<usize>,
    wat_ttl: Option<u64>,
    signing_key_rotation: Option<u64>,
    discovery_ttl: Option<u64>,
    jwt_clock_skew: Option<u64>,
    jwks_ttl: Option<u64>,
    jwks_refetch_interval: Option<u64>,
    jwks_max_stale: Option<u64>,
    metrics: Option<bool>,
    audit: Option<bool>,
    audit_checkpoint_interval: Option<u64>,
    audit_mirror: Option<String>,
    session_ttl: Option<u64>,
    refresh_margin: Option<u64>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub region: String,
    pub account_id: String,
    pub log_format: LogFormat,
    pub log_level: String,
    pub sqlite: warrant_store::SqliteOptions,
    pub listen: SocketAddr,
    /// `None` until the listener is bound (the default derives from the bound address).
    pub public_url: Option<String>,
    pub api: warrant_api::ApiSettings,
    pub shutdown_timeout: Duration,
    pub cache_entries: usize,
    pub cache_refresh: Duration,
    pub outbound: warrant_oauth::OutboundSettings,
    pub wat_ttl: u64,
    pub signing_key_rotation: u64,
    pub discovery_ttl: u64,
    pub user_tokens: warrant_core::service::UserTokenSettings,
    pub metrics: bool,
    pub audit: warrant_core::service::audit::AuditSettings,
    pub audit_checkpoint_interval: Duration,
    pub session_ttl: u64,
    pub refresh_margin: u64,
    pub vendor_endpoints: Vec<(String, String)>,
}

fn check_region(r: &str) -> Result<(), SettingError> {
    if r.is_empty()
        || r.len() > 64
        || !r
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad(
            "--region",
            format!("{r:?} is not a region name (lower-case letters, digits and '-')"),
        ));
    }
    Ok(())
}

/// Check a public URL: http(s), a host, no query or fragment; returned without a
/// trailing slash.
pub fn check_public_url(u: &str) -> Result<String, SettingError> {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .ok_or_else(|| {
            bad(
                "--public-url",
                format!("{u:?} must start with http:// or https://"),
            )
        })?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty()
        || u.contains(['?', '#'])
        || u.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad(
            "--public-url",
            format!("{u:?} is not a URL with a host and no query or fragment"),
        ));
    }
    Ok(u.trim_end_matches('/').to_string())
}

impl Config {
    pub fn load(store: &StoreArgs, serve: &ServeArgs) -> Result<Config, SettingError> {
        let file: FileConfig = match &store.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| bad("--config", format!("cannot read {}: {e}", p.display())))?;
                toml::from_str(&text)
                    .map_err(|e| bad("--config", format!("{}: {}", p.display(), e.message())))?
            }
            None => FileConfig::default(),
        };
        let data_dir = store
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./warrant-data"));
        let database_url = store.database_url.clone().or(file.database_url);
        let region = store
            .region
            .clone()
            .or(file.region)
            .unwrap_or_else(|| "us-east-1".into());
        check_region(&region)?;
        let account_id = store
            .account_id
            .clone()
            .or(file.account_id)
            .unwrap_or_else(|| "000000000000".into());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(
                "--account-id",
                format!("{account_id:?} must be twelve digits"),
            ));
        }
        let listen_s = serve
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8787".into());
        let listen: SocketAddr = listen_s.parse().map_err(|_| {
            bad(
                "--listen",
                format!("{listen_s:?} is not an address like 127.0.0.1:8787"),
            )
        })?;
        let public_url = match serve.public_url.clone().or(file.public_url) {
            Some(u) => Some(check_public_url(&u)?),
            None => None,
        };
        let defaults = warrant_store::SqliteOptions::default();
        let sqlite = warrant_store::SqliteOptions {
            readers: store
                .sqlite_readers
                .or(file.sqlite_readers)
                .unwrap_or(defaults.readers),
            mmap_size: store
                .sqlite_mmap_size
                .or(file.sqlite_mmap_size)
                .unwrap_or(defaults.mmap_size),
            cache_kib: store
                .sqlite_cache_kib
                .or(file.sqlite_cache_kib)
                .unwrap_or(defaults.cache_kib),
            busy_timeout: store
                .db_busy_timeout
                .or(file.db_busy_timeout)
                .map(Duration::from_secs)
                .unwrap_or(defaults.busy_timeout),
        };
        if sqlite.readers == 0 {
            return Err(bad("--sqlite-readers", "must be at least 1"));
        }
        let api_defaults = warrant_api::ApiSettings::default();
        let api = warrant_api::ApiSettings {
            max_body_bytes: serve
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(api_defaults.max_body_bytes),
            sigv4_max_skew: serve
                .sigv4_max_skew
                .or(file.sigv4_max_skew)
                .map(Duration::from_secs)
                .unwrap_or(api_defaults.sigv4_max_skew),
            max_concurrent_requests: serve
                .max_concurrent_requests
                .or(file.max_concurrent_requests)
                .unwrap_or(api_defaults.max_concurrent_requests),
            metrics: None,
        };
        let metrics = serve.metrics.or(file.metrics).unwrap_or(true);
        let allow_text = serve
            .outbound_allow
            .clone()
            .or(file.outbound_allow)
            .unwrap_or_default();
        let outbound = warrant_oauth::OutboundSettings {
            allow: warrant_oauth::OutboundAllow::parse(&allow_text)
                .map_err(|e| bad("--outbound-allow", e))?,
            timeout: Duration::from_secs(
                serve
                    .outbound_timeout
                    .or(file.outbound_timeout)
                    .unwrap_or(10),
            ),
            max_response_bytes: serve
                .outbound_max_response_bytes
                .or(file.outbound_max_response_bytes)
                .unwrap_or(1024 * 1024),
        };
        if outbound.timeout.is_zero() {
            return Err(bad("--outbound-timeout", "must be at least 1 second"));
        }
        if outbound.max_response_bytes < 1024 {
            return Err(bad(
                "--outbound-max-response-bytes",
                "must be at least 1024",
            ));
        }
        let wat_ttl = serve.wat_ttl.or(file.wat_ttl).unwrap_or(900);
        if !(1..=86_400).contains(&wat_ttl) {
            return Err(bad(
                "--wat-ttl",
                format!("{wat_ttl} is not between 1 and 86400 seconds"),
            ));
        }
        let rotation = serve
            .signing_key_rotation
            .or(file.signing_key_rotation)
            .unwrap_or(86_400);
        if rotation < 60 {
            return Err(bad("--signing-key-rotation", "must be at least 60 seconds"));
        }
        let discovery_ttl = serve.discovery_ttl.or(file.discovery_ttl).unwrap_or(3_600);
        let secs_in = |flag: &str, v: Option<u64>, default: u64, min: u64, max: u64| {
            let v = v.unwrap_or(default);
            if (min..=max).contains(&v) {
                Ok(v)
            } else {
                Err(bad(
                    flag,
                    format!("{v} is not between {min} and {max} seconds"),
                ))
            }
        };
        let audit_checkpoint_interval = Duration::from_secs(secs_in(
            "--audit-checkpoint-interval",
            serve
                .audit_checkpoint_interval
                .or(file.audit_checkpoint_interval),
            30,
            1,
            86_400,
        )?);
        let audit = warrant_core::service::audit::AuditSettings {
            enabled: serve.audit.or(file.audit).unwrap_or(true),
            mirror: match serve.audit_mirror.clone().or(file.audit_mirror.clone()) {
                None => None,
                Some(m) if m.is_empty() => None,
                Some(m) if m == "stdout" => Some(warrant_core::service::audit::Mirror::Stdout),
                Some(path) => Some(warrant_core::service::audit::Mirror::File(path.into())),
            },
        };
        let user_tokens = warrant_core::service::UserTokenSettings {
            clock_skew_secs: secs_in(
                "--jwt-clock-skew",
                serve.jwt_clock_skew.or(file.jwt_clock_skew),
                60,
                0,
                300,
            )? as i64,
            jwks_ttl: Duration::from_secs(secs_in(
                "--jwks-ttl",
                serve.jwks_ttl.or(file.jwks_ttl),
                600,
                1,
                86_400,
            )?),
            refetch_interval: Duration::from_secs(secs_in(
                "--jwks-refetch-interval",
                serve.jwks_refetch_interval.or(file.jwks_refetch_interval),
                30,
                0,
                3_600,
            )?),
            max_stale: Duration::from_secs(secs_in(
                "--jwks-max-stale",
                serve.jwks_max_stale.or(file.jwks_max_stale),
                86_400,
                0,
                604_800,
            )?),
        };
        let session_ttl = secs_in(
            "--session-ttl",
            serve.session_ttl.or(file.session_ttl),
            600,
            30,
            86_400,
        )?;
        let refresh_margin = secs_in(
            "--refresh-margin",
            serve.refresh_margin.or(file.refresh_margin),
            60,
            0,
            3_600,
        )?;
        let mut vendor_endpoints = Vec::new();
        for v in &serve.danger_vendor_endpoint {
            let (vendor, origin) = v.split_once('=').ok_or_else(|| {
                bad(
                    "--danger-vendor-endpoint",
                    format!("{v:?} is not VENDOR=ORIGIN"),
                )
            })?;
            if warrant_core::domain::vendor::vendor_info(vendor).is_none() {
                return Err(bad(
                    "--danger-vendor-endpoint",
                    format!("{vendor:?} is not a vendor preset"),
                ));
            }
            let u = url::Url::parse(origin).map_err(|_| {
                bad(
                    "--danger-vendor-endpoint",
                    format!("{origin:?} is not a URL"),
                )
            })?;
            // Nothing but an origin: a path, query or fragment would end up inside the
            // vendor's endpoint URLs.
            let o = warrant_oauth::origin(&u);
            if !matches!(u.scheme(), "http" | "https") || o != origin.trim_end_matches('/') {
                return Err(bad(
                    "--danger-vendor-endpoint",
                    format!("{origin:?} must be an origin (scheme, host, port)"),
                ));
            }
            vendor_endpoints.push((vendor.to_string(), o));
        }
        if api.max_concurrent_requests == 0 {
            return Err(bad("--max-concurrent-requests", "must be at least 1"));
        }
        if api.max_body_bytes == 0 {
            return Err(bad("--max-body-bytes", "must be at least 1"));
        }
        let database_url = match database_url {
            Some(u) => {
                if u.starts_with("postgres:") || u.starts_with("postgresql:") {
                    return Err(bad(
                        "--database-url",
                        "PostgreSQL is not supported by this build yet; use a sqlite:// URL",
                    ));
                }
                if !u.starts_with("sqlite:") {
                    return Err(bad(
                        "--database-url",
                        format!("{u:?} must be a sqlite:// URL"),
                    ));
                }
                u
            }
            None => format!("sqlite://{}", data_dir.join("warrant.db").display()),
        };
        Ok(Config {
            data_dir,
            database_url,
            region,
            account_id,
            log_format: store
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            log_level: store
                .log_level
                .clone()
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            sqlite,
            listen,
            public_url,
            api,
            shutdown_timeout: Duration::from_secs(
                serve
                    .shutdown_timeout
                    .or(file.shutdown_timeout)
                    .unwrap_or(30),
            ),
            cache_entries: serve.cache_entries.or(file.cache_entries).unwrap_or(10_000),
            outbound,
            wat_ttl,
            signing_key_rotation: rotation,
            discovery_ttl,
            user_tokens,
            metrics,
            audit,
            audit_checkpoint_interval,
            session_ttl,
            refresh_margin,
            vendor_endpoints,
            cache_refresh: Duration::from_millis(
                serve
                    .cache_refresh_ms
                    .or(file.cache_refresh_ms)
                    .unwrap_or(10)
                    .max(1),
            ),
        })
    }
}

/// Create the data directory if needed and prove it is writable.
pub fn prepare_data_dir(dir: &Path) -> Result<(), SettingError> {
    let shown = dir.display();
    std::fs::create_dir_all(dir)
        .map_err(|e| bad("--data-dir", format!("cannot create {shown}: {e}")))?;
    let probe = dir.join(format!(".write-test-{}", std::process::id()));
    std::fs::write(&probe, b"x")
        .map_err(|e| bad("--data-dir", format!("{shown} is not writable: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_precedence() {
        let c = Config::load(&StoreArgs::default(), &ServeArgs::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8787");
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.account_id, "000000000000");
        assert!(c.database_url.ends_with("warrant-data/warrant.db"));

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("w.toml");
        std::fs::write(&f, "region = \"eu-west-1\"\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let store = StoreArgs {
            config: Some(f.clone()),
            ..Default::default()
        };
        let c = Config::load(&store, &ServeArgs::default()).unwrap();
        assert_eq!(c.region, "eu-west-1");
        let serve = ServeArgs {
            listen: Some("127.0.0.1:9001".into()),
            ..Default::default()
        };
        let c = Config::load(&store, &serve).unwrap();
        assert_eq!(c.listen.port(), 9001, "flags beat the file");

        std::fs::write(&f, "regoin = \"x\"\n").unwrap();
        let e = Config::load(&store, &ServeArgs::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--config"), "{e}");
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let cases: Vec<(StoreArgs, ServeArgs, &str)> = vec![
            (
                StoreArgs {
                    account_id: Some("12".into()),
                    ..Default::default()
                },
                ServeArgs::default(),
                "--account-id",
            ),
            (
                StoreArgs {
                    region: Some("US East".into()),
                    ..Default::default()
                },
                ServeArgs::default(),
                "--region",
            ),
            (
                StoreArgs::default(),
                ServeArgs {
                    listen: Some("nope".into()),
                    ..Default::default()
                },
                "--listen",
            ),
            (
                StoreArgs::default(),
                ServeArgs {
                    public_url: Some("ftp://x".into()),
                    ..Default::default()
                },
                "--public-url",
            ),
            (
                StoreArgs::default(),
                ServeArgs {
                    public_url: Some("http://x/?a".into()),
                    ..Default::default()
                },
                "--public-url",
            ),
            (
                StoreArgs {
                    database_url: Some("mysql://x".into()),
                    ..Default::default()
                },
                ServeArgs::default(),
                "--database-url",
            ),
        ];
        for (s, v, want) in cases {
            let e = Config::load(&s, &v).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}");
        }
        assert_eq!(
            check_public_url("https://w.example.com/").unwrap(),
            "https://w.example.com"
        );
    }
}
