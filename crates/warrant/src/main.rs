//! `warrant`: a self-hosted identity and credential service for AI agents, speaking the
//! AWS AgentCore Identity wire protocol. This binary parses arguments, wires the layers
//! together, and runs `serve` or an admin command. No business rules live here.

mod config;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{Config, LogFormat, ServeArgs, SettingError, StoreArgs};
use warrant_core::service::{Service, Settings, SystemClock};
use warrant_core::{ExposeSecret, SecretString};
use warrant_crypto::{Keyring, MasterKey, MasterKeySource};
use warrant_store::{CachedStore, SqliteStore, Store};

#[derive(Parser)]
#[command(
    name = "warrant",
    version,
    about = "Identity and credentials for AI agents, wire-compatible with AWS AgentCore Identity"
)]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage the SigV4 access keys callers sign with.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// warrant's own settings of workload identities (beyond the AWS API).
    #[command(subcommand)]
    Workloads(WorkloadsCommand),
    /// Read, verify, export and prune the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk every account's hash chain and check the signed checkpoints; exit 1 naming
    /// the first altered, removed or reordered event.
    Verify {
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Verify an export (`audit export --format jsonl`) instead of the database.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// Print the newest events as JSON lines, oldest first.
    Tail {
        /// How many.
        #[arg(short = 'n', long = "lines", default_value_t = 20)]
        lines: u32,
        /// Keep printing new events until interrupted.
        #[arg(long)]
        follow: bool,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
    },
    /// Print events as JSON lines with their hashes (`prevHash`, `hash`).
    Export {
        /// From this time (RFC 3339 or Unix seconds), inclusive.
        #[arg(long)]
        since: Option<String>,
        /// Until this time, exclusive.
        #[arg(long)]
        until: Option<String>,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Output format (only `jsonl`).
        #[arg(long, default_value = "jsonl")]
        format: String,
    },
    /// Delete events older than a time, up to a signed checkpoint (which is kept).
    Prune {
        /// Delete events up to the newest checkpoint at or before this time.
        #[arg(long)]
        before: String,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // the CLI's words: set-providers, get-providers, ...
enum WorkloadsCommand {
    /// Allow the workload to use only these credential providers (replaces the list;
    /// no --provider at all allows none).
    SetProviders {
        /// The workload identity's name.
        name: String,
        /// A credential provider's name; repeat for several.
        #[arg(long = "provider")]
        providers: Vec<String>,
    },
    /// Print the workload's provider allowlist as JSON (null: none set).
    GetProviders {
        /// The workload identity's name.
        name: String,
    },
    /// Remove the allowlist: the caller's policy alone decides again.
    ClearProviders {
        /// The workload identity's name.
        name: String,
    },
    /// Trust exactly this JWT authorizer for GetWorkloadAccessTokenForJWT (replaces
    /// the workload's authorizers).
    SetAuthorizer(AuthorizerArgs),
    /// Trust this JWT authorizer as well (at most 10 per workload).
    AddAuthorizer(AuthorizerArgs),
    /// Print the workload's JWT authorizers as JSON (null: none set).
    GetAuthorizers {
        /// The workload identity's name.
        name: String,
    },
    /// Remove every JWT authorizer: no JWT user is accepted.
    ClearAuthorizers {
        /// The workload identity's name.
        name: String,
    },
}

/// One JWT authorizer, in the words of AWS's `customJWTAuthorizer`.
#[derive(clap::Args)]
struct AuthorizerArgs {
    /// The workload identity's name.
    name: String,
    /// The issuer's discovery URL ({issuer}/.well-known/openid-configuration).
    #[arg(long)]
    discovery_url: String,
    /// An accepted audience (`aud`); repeat for several.
    #[arg(long = "audience")]
    audiences: Vec<String>,
    /// An accepted client (`client_id`, or `azp`); repeat for several.
    #[arg(long = "client")]
    clients: Vec<String>,
    /// A scope every token must carry; repeat for several.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// A custom claim rule as JSON (one `customClaims` item); repeat for several.
    #[arg(long = "claim")]
    claims: Vec<String>,
}

impl AuthorizerArgs {
    /// The `customJWTAuthorizer` item; empty lists are left out.
    fn item(&self) -> anyhow::Result<serde_json::Value> {
        let mut c = serde_json::json!({ "discoveryUrl": self.discovery_url });
        for (member, list) in [
            ("allowedAudience", &self.audiences),
            ("allowedClients", &self.clients),
            ("allowedScopes", &self.scopes),
        ] {
            if !list.is_empty() {
                c[member] = serde_json::json!(list);
            }
        }
        if !self.claims.is_empty() {
            let claims = self
                .claims
                .iter()
                .map(|c| {
                    serde_json::from_str::<serde_json::Value>(c)
                        .map_err(|e| anyhow::anyhow!("--claim {c:?} is not JSON: {e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            c["customClaims"] = serde_json::json!(claims);
        }
        Ok(serde_json::json!({ "customJWTAuthorizer": c }))
    }
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; prints its secret once, as JSON.
    Create {
        /// A name for the key (letters, digits, _.@+=,-).
        #[arg(long)]
        name: String,
        /// IAM-style JSON policy file ("-" reads standard input).
        #[arg(long)]
        policy: std::path::PathBuf,
    },
    /// List keys as JSON (never their secrets).
    List,
    /// Delete a key.
    Delete {
        /// The access key id.
        access_key_id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warrant: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(s) = e.downcast_ref::<SettingError>() {
                eprintln!("warrant: error: {s}");
                return ExitCode::from(2);
            }
            eprintln!("warrant: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
}

/// This node's stable name, kept in `DATA_DIR/node-id` (created on first start): the
/// owner of its refresh leases, so a restart after a crash takes its own leases back.
/// `None` (a random name per process) when the file cannot be read or written.
fn node_id(data_dir: &std::path::Path) -> Option<String> {
    let path = data_dir.join("node-id");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        if (16..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Some(s.to_string());
        }
    }
    let id = warrant_crypto::random_token(32);
    match std::fs::write(&path, format!("{id}\n")) {
        Ok(()) => Some(id),
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "cannot keep this node's id; using one per process");
            None
        }
    }
}

/// Open the data dir, the master key and the store, and prove the key fits the data.
/// `cached`: serve reads through the read cache (the server); admin commands do not.
async fn open(cfg: &Config, cached: bool) -> anyhow::Result<(Arc<Service>, Arc<SqliteStore>)> {
    config::prepare_data_dir(&cfg.data_dir)?;
    let env_key = std::env::var("WARRANT_MASTER_KEY").ok();
    let (key, source) = MasterKey::load_or_create(env_key.as_deref(), &cfg.data_dir)
        .map_err(|e| SettingError(format!("master key: {e}")))?;
    match &source {
        MasterKeySource::Env => {
            tracing::info!(key_id = %key.id_hex(), "master key from WARRANT_MASTER_KEY")
        }
        MasterKeySource::File(p) => {
            tracing::info!(key_id = %key.id_hex(), path = %p.display(), "master key loaded")
        }
        MasterKeySource::Generated(p) => {
            tracing::info!(key_id = %key.id_hex(), path = %p.display(), "master key generated")
        }
    }
    create_private_db_file(&cfg.database_url)?;
    let store = Arc::new(
        SqliteStore::open(&cfg.database_url, &cfg.sqlite)
            .await
            .map_err(|e| SettingError(format!("--database-url {}: {e}", cfg.database_url)))?,
    );
    let public_url = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", cfg.listen));
    let backend: Arc<dyn Store> = if cached {
        CachedStore::new(store.clone(), cfg.cache_entries, cfg.cache_refresh)
            .await
            .map_err(|e| anyhow::anyhow!("opening the read cache: {e}"))?
    } else {
        store.clone()
    };
    let http = warrant_oauth::HttpClient::new(cfg.outbound.clone()).map_err(SettingError)?;
    let mut settings = Settings::new(&cfg.region, &cfg.account_id, &public_url);
    settings.wat_ttl_secs = cfg.wat_ttl as i64;
    settings.signing_key_rotation_secs = cfg.signing_key_rotation as i64;
    settings.discovery_ttl_secs = cfg.discovery_ttl;
    settings.user_tokens = cfg.user_tokens.clone();
    settings.audit = cfg.audit.clone();
    settings.session_ttl_secs = cfg.session_ttl as i64;
    settings.refresh_margin_secs = cfg.refresh_margin as i64;
    settings.vendor_endpoints = cfg.vendor_endpoints.clone();
    // Only the server takes refresh leases; admin commands leave DATA_DIR/node-id alone.
    if cached {
        settings.node_id = node_id(&cfg.data_dir);
    }
    let service = Service::new(
        backend,
        Keyring::new(key),
        settings,
        Arc::new(SystemClock),
        http,
    );
    service.check_master_key().await.map_err(|e| {
        anyhow::anyhow!(
            "master key check failed: {}",
            e.to_string().trim_start_matches("internal error: ")
        )
    })?;
    Ok((service, store))
}

/// Create the SQLite file with mode 0600 before SQLite does (SQLite gives its -wal and
/// -shm files the same mode), so only warrant's user can read even the sealed data.
fn create_private_db_file(url: &str) -> anyhow::Result<()> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Ok(());
    };
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" || Path::new(path).exists() {
        return Ok(());
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => {
            Err(SettingError(format!("--database-url {url}: cannot create the file: {e}")).into())
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let serve_args = match &cli.command {
        Command::Serve(a) => (**a).clone(),
        // Admin commands check authorizer URLs with the same guard as the server, and
        // mirror the audit events they write where the server does.
        _ => ServeArgs {
            outbound_allow: std::env::var("WARRANT_OUTBOUND_ALLOW").ok(),
            audit_mirror: std::env::var("WARRANT_AUDIT_MIRROR").ok(),
            ..Default::default()
        },
    };
    let mut cfg = Config::load(&cli.store, &serve_args)?;
    match cli.command {
        Command::Serve(_) => {
            init_logging(&cfg);
            serve(&mut cfg).await
        }
        Command::Keys(k) => {
            // Admin commands log only warnings, so their stdout stays clean JSON.
            if cli.store.log_level.is_none() {
                cfg.log_level = "warn".into();
            }
            init_logging(&cfg);
            keys(&cfg, k).await
        }
        Command::Audit(a) => {
            if cli.store.log_level.is_none() {
                cfg.log_level = "warn".into();
            }
            init_logging(&cfg);
            audit(&cfg, a).await
        }
        Command::Workloads(w) => {
            if cli.store.log_level.is_none() {
                cfg.log_level = "warn".into();
            }
            init_logging(&cfg);
            workloads(&cfg, w).await
        }
    }
}

/// Write the bootstrap admin key as an AWS shared-credentials file, mode 0600,
/// replacing any earlier one atomically.
fn write_credentials(
    dir: &Path,
    id: &str,
    secret: &SecretString,
) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join("credentials");
    let tmp = dir.join(format!(".credentials.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let text = format!(
        "[warrant]\naws_access_key_id = {id}\naws_secret_access_key = {}",
        secret.expose_secret()
    );
    warrant_crypto::write_private(&tmp, text.as_bytes())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

async fn serve(cfg: &mut Config) -> anyhow::Result<()> {
    // Install the signal handlers first: a SIGTERM that arrives as soon as the
    // listening line is printed must still drain and exit 0, not kill the process.
    let shutdown = shutdown_signal()?;
    // Bind first, so a port in use fails fast and the default public URL can use the
    // real port when --listen asks for port 0.
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| SettingError(format!("--listen {}: {e}", cfg.listen)))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    if cfg.public_url.is_none() {
        cfg.public_url = Some(format!("http://{bound}"));
    }
    let (service, store) = open(cfg, true).await?;

    let admin_id = std::env::var("WARRANT_ADMIN_ACCESS_KEY_ID").ok();
    let admin_secret = std::env::var("WARRANT_ADMIN_SECRET_ACCESS_KEY").ok();
    let given = match (admin_id, admin_secret) {
        (Some(i), Some(s)) => Some((i, SecretString::from(s))),
        (None, None) => None,
        _ => {
            return Err(SettingError(
                "WARRANT_ADMIN_ACCESS_KEY_ID and WARRANT_ADMIN_SECRET_ACCESS_KEY go together"
                    .into(),
            )
            .into())
        }
    };
    let from_env = given.is_some();
    if let Some(k) = service
        .bootstrap_admin(given)
        .await
        .map_err(|e| SettingError(format!("WARRANT_ADMIN_ACCESS_KEY_ID: {e}")))?
    {
        if from_env {
            tracing::info!(access_key_id = %k.access_key_id, "admin key created from the environment");
        } else {
            let path = write_credentials(&cfg.data_dir, &k.access_key_id, &k.secret_access_key)?;
            tracing::info!(access_key_id = %k.access_key_id, path = %path.display(), profile = "warrant", "admin key created; credentials written");
            eprintln!(
                "warrant: admin credentials written to {} (profile [warrant])",
                path.display()
            );
        }
    }

    // Signing keys exist before the first request, and rotate on schedule after.
    service
        .refresh_signing_keys()
        .await
        .map_err(|e| anyhow::anyhow!("preparing the WAT signing keys: {e}"))?;
    // Keep the WAT signing keys current (each window's key, and the next one's, made
    // before it is needed; keys other nodes made picked up).
    every(
        &service,
        Duration::from_secs(30),
        "refreshing the WAT signing keys",
        |s| async move { s.refresh_signing_keys().await },
    );
    // Sign an audit checkpoint for every account with new events.
    every(
        &service,
        cfg.audit_checkpoint_interval,
        "signing an audit checkpoint",
        |s| async move { s.checkpoint_audit().await.map(|_| ()) },
    );
    // Remove authorization sessions a day after they expired (until then an agent
    // polling one is told it FAILED rather than that it is unknown).
    every(
        &service,
        Duration::from_secs(600),
        "pruning expired authorization sessions",
        |s| async move { s.prune_auth_sessions().await.map(|_| ()) },
    );
    let for_shutdown = service.clone();
    let mut api = cfg.api.clone();
    if cfg.metrics {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .context("installing the metrics recorder")?;
        api.metrics = Some(handle);
    }
    let app = warrant_api::router(service, api, Arc::new(SystemClock));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown_timeout = cfg.shutdown_timeout;
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: draining in-flight requests");
        let _ = tx.send(());
    });
    tracing::info!(address = %bound, region = %cfg.region, account = %cfg.account_id, "warrant listening");
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "warrant listening on http://{bound}")?;
        out.flush()?;
    }
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        r = &mut server => { r.context("server task")?.context("serving")?; }
        _ = async { let _ = rx.await; tokio::time::sleep(shutdown_timeout).await } => {
            tracing::warn!(timeout_s = shutdown_timeout.as_secs(), "in-flight requests did not finish in time; exiting");
        }
    }
    // The last events get a checkpoint too.
    if let Err(e) = for_shutdown.checkpoint_audit().await {
        tracing::warn!(error = %e, "the audit checkpoint at shutdown failed");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Run `task` every `period` while the service lives; a failure is logged and retried
/// at the next turn.
fn every<F, Fut>(service: &Arc<Service>, period: Duration, what: &'static str, task: F)
where
    F: Fn(Arc<Service>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = warrant_core::Result<()>> + Send,
{
    let service = Arc::downgrade(service);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            let Some(s) = service.upgrade() else { return };
            if let Err(e) = task(s).await {
                tracing::warn!(error = %e, "{what} failed; will retry");
            }
        }
    });
}

/// Register SIGINT and SIGTERM now; the returned future completes on either.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

async fn keys(cfg: &Config, cmd: KeysCommand) -> anyhow::Result<()> {
    let (service, store) = open(cfg, false).await?;
    let result = match cmd {
        KeysCommand::Create { name, policy } => {
            let text = if policy.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
                    .context("reading the policy from stdin")?
            } else {
                std::fs::read_to_string(&policy)
                    .with_context(|| format!("--policy: cannot read {}", policy.display()))?
            };
            // The key belongs to the configured account (--account-id).
            let account = cfg.account_id.clone();
            let k = service
                .create_access_key(&name, &account, &text, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let out = serde_json::json!({
                "accessKeyId": k.access_key_id,
                "secretAccessKey": k.secret_access_key.expose_secret(),
                "name": k.name,
                "accountId": k.account_id,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        KeysCommand::List => {
            let list: Vec<_> = service
                .list_access_keys()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .into_iter()
                .map(|k| {
                    serde_json::json!({
                        "accessKeyId": k.access_key_id,
                        "name": k.name,
                        "accountId": k.account_id,
                        "createdAt": k.created_at as f64 / 1000.0,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
            Ok(())
        }
        KeysCommand::Delete { access_key_id } => {
            service
                .delete_access_key(&access_key_id)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("deleted {access_key_id}");
            Ok(())
        }
    };
    store.close().await;
    result
}

fn audit_time(flag: &str, v: Option<&str>) -> anyhow::Result<Option<i64>> {
    v.map(|t| {
        warrant_core::service::audit::parse_time(t)
            .ok_or_else(|| anyhow::anyhow!("{flag} {t:?} is not RFC 3339 or Unix seconds"))
    })
    .transpose()
}

async fn audit(cfg: &Config, cmd: AuditCommand) -> anyhow::Result<()> {
    use warrant_core::service::audit::{render, verify_chain};
    use warrant_store::AuditQuery;
    if let AuditCommand::Verify {
        file: Some(path), ..
    } = &cmd
    {
        // Offline: the chain from an export. Checkpoint signatures are not in exports.
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut rows = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let row = warrant_core::service::audit::row_from_export(line)
                .map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1))?;
            rows.push(row);
        }
        return match verify_chain(&rows, &[], &|_, _, _| false, false) {
            Ok(ok) => {
                println!("{ok}");
                Ok(())
            }
            Err(problem) => {
                println!("{problem}");
                std::process::exit(1);
            }
        };
    }
    let (service, store) = open(cfg, false).await?;
    let result: anyhow::Result<()> = async {
        match cmd {
            AuditCommand::Verify { account, .. } => {
                match service
                    .verify_audit(account.as_deref())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                {
                    Ok(ok) => println!("{ok}"),
                    Err(problem) => {
                        println!("{problem}");
                        store.close().await;
                        std::process::exit(1);
                    }
                }
            }
            AuditCommand::Tail {
                lines,
                follow,
                account,
            } => {
                let mut q = AuditQuery {
                    account_id: account,
                    limit: lines.clamp(1, 100_000),
                    newest: true,
                    ..Default::default()
                };
                let mut last = None;
                loop {
                    let rows = service
                        .audit_events(&q)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    {
                        let mut out = std::io::stdout().lock();
                        for r in &rows {
                            writeln!(out, "{}", render(r, false))?;
                            last = Some(r.id);
                        }
                        out.flush()?;
                    }
                    if !follow {
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                        _ = tokio::signal::ctrl_c() => break,
                    }
                    q.newest = false;
                    q.limit = 10_000;
                    q.after_id = last.or(Some(0));
                }
            }
            AuditCommand::Export {
                since,
                until,
                account,
                format,
            } => {
                if format != "jsonl" {
                    anyhow::bail!("--format {format:?}: only jsonl is supported");
                }
                let mut q = AuditQuery {
                    account_id: account,
                    since_ms: audit_time("--since", since.as_deref())?,
                    until_ms: audit_time("--until", until.as_deref())?,
                    limit: 10_000,
                    ..Default::default()
                };
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                loop {
                    let rows = service
                        .audit_events(&q)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    let Some(last) = rows.last() else { break };
                    q.after_id = Some(last.id);
                    for r in &rows {
                        writeln!(out, "{}", render(r, true))?;
                    }
                }
                out.flush()?;
            }
            AuditCommand::Prune { before, account } => {
                let before = audit_time("--before", Some(&before))?.expect("given");
                let n = service
                    .prune_audit(account.as_deref(), before)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("{}", serde_json::json!({ "pruned": n }));
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

async fn workloads(cfg: &Config, cmd: WorkloadsCommand) -> anyhow::Result<()> {
    use warrant_core::service::{Caller, Operation};
    let (service, store) = open(cfg, false).await?;
    // The operator at the console acts with every right, in the configured account.
    let admin = Caller {
        access_key_id: "-".into(),
        account_id: cfg.account_id.clone(),
        name: "warrant-cli".into(),
        policy: warrant_core::domain::policy::Policy::parse(
            warrant_core::domain::policy::Policy::allow_all_json(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let (op, input) = match cmd {
        WorkloadsCommand::SetAuthorizer(a) => (
            Operation::PutWorkloadAuthorizers,
            serde_json::json!({"workloadName": a.name, "authorizers": [a.item()?]}),
        ),
        WorkloadsCommand::AddAuthorizer(a) => {
            let current = service
                .call(
                    &admin,
                    Operation::GetWorkloadAuthorizers,
                    &serde_json::json!({"workloadName": a.name}),
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut list = current["authorizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            list.push(a.item()?);
            (
                Operation::PutWorkloadAuthorizers,
                serde_json::json!({"workloadName": a.name, "authorizers": list}),
            )
        }
        WorkloadsCommand::GetAuthorizers { name } => (
            Operation::GetWorkloadAuthorizers,
            serde_json::json!({"workloadName": name}),
        ),
        WorkloadsCommand::ClearAuthorizers { name } => (
            Operation::DeleteWorkloadAuthorizers,
            serde_json::json!({"workloadName": name}),
        ),
        WorkloadsCommand::SetProviders { name, providers } => (
            Operation::PutWorkloadAllowedProviders,
            serde_json::json!({"workloadName": name, "allowedProviders": providers}),
        ),
        WorkloadsCommand::GetProviders { name } => (
            Operation::GetWorkloadAllowedProviders,
            serde_json::json!({"workloadName": name}),
        ),
        WorkloadsCommand::ClearProviders { name } => (
            Operation::DeleteWorkloadAllowedProviders,
            serde_json::json!({"workloadName": name}),
        ),
    };
    let result = service.call(&admin, op, &input).await;
    store.close().await;
    let out = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
