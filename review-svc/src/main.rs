use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use review_svc::auth::Authenticator;
use review_svc::classifier_client::{ClassifierClient, RetryPolicy};

/// Records export licence applications through interagency review to a
/// decision, over gRPC.
///
/// Every flag has an environment twin (shown in brackets); unknown REVIEW_*
/// variables are refused.
#[derive(Debug, Parser)]
#[command(name = "review-svc", version)]
struct Cli {
    /// Address of classifier-svc.
    #[arg(
        long,
        env = "REVIEW_CLASSIFIER_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    classifier_url: String,
    /// PEM CA bundle to verify classifier-svc's TLS certificate (use an https:// URL).
    #[arg(long, env = "REVIEW_CLASSIFIER_CA")]
    classifier_ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS to classifier-svc (with --classifier-key).
    #[arg(long, env = "REVIEW_CLASSIFIER_CERT")]
    classifier_cert: Option<PathBuf>,
    /// PEM private key for --classifier-cert.
    #[arg(long, env = "REVIEW_CLASSIFIER_KEY")]
    classifier_key: Option<PathBuf>,
    /// Where the default SQLite database lives.
    #[arg(long, env = "REVIEW_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Ed25519 key (PKCS#8 PEM) that signs audit checkpoints; created,
    /// mode 0600, when absent [default: DATA_DIR/audit-key.pem].
    #[arg(long, env = "REVIEW_AUDIT_KEY_FILE")]
    audit_key_file: Option<PathBuf>,
    /// Database: sqlite://FILE or postgres://USER@HOST:PORT/DB. Default: DATA_DIR/review.db.
    #[arg(long, env = "REVIEW_DATABASE_URL")]
    database_url: Option<String>,
    /// Tokens file mapping hashed bearer tokens to principals (see README).
    #[arg(long, env = "REVIEW_TOKENS_FILE")]
    tokens_file: Option<PathBuf>,
    /// Development mode: fixed, printed tokens for every role. Never in production.
    #[arg(long, env = "REVIEW_DEV", default_value_t = false)]
    dev: bool,
    /// Seconds in a deadline "day". 86400 in production; smaller only to
    /// run deadlines fast in tests and demonstrations.
    #[arg(long, env = "REVIEW_DAY_LENGTH_SECONDS", default_value_t = 86_400.0)]
    day_length_seconds: f64,
    /// How often passed deadlines are applied (at least 10 ms).
    #[arg(long, env = "REVIEW_SWEEP_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..))]
    sweep_interval_ms: u64,
    /// How often applications accepted while the classifier was down are
    /// retried (at least 10 ms).
    #[arg(
        long,
        env = "REVIEW_CLASSIFIER_RETRY_INTERVAL_MS",
        default_value_t = 2000,
        value_parser = clap::value_parser!(u64).range(10..)
    )]
    classifier_retry_interval_ms: u64,
    /// WatchApplications streams one principal may hold open at once (at
    /// least 1): each reads the store on every write.
    #[arg(
        long,
        env = "REVIEW_MAX_WATCHES_PER_PRINCIPAL",
        default_value_t = review_svc::DEFAULT_MAX_WATCHES_PER_PRINCIPAL,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    max_watches_per_principal: usize,
    /// Serve neither the review console (/console/) nor gRPC-Web: gRPC over
    /// HTTP/2 only.
    #[arg(long, env = "REVIEW_NO_CONSOLE", default_value_t = false)]
    no_console: bool,
    /// Print a SHA-256 digest of the token read from standard input (for the tokens file) and exit.
    #[arg(long, default_value_t = false)]
    hash_token: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (cli, flags) = service_kit::config::parse_service::<Cli>("REVIEW_", "127.0.0.1:50052");
    if cli.hash_token {
        let mut token = String::new();
        if std::io::stdin().read_line(&mut token).is_err() {
            eprintln!("could not read a token from standard input");
            return std::process::ExitCode::FAILURE;
        }
        println!(
            "{}",
            review_svc::auth::token_sha256(token.trim_end_matches(['\r', '\n']))
        );
        return std::process::ExitCode::SUCCESS;
    }
    service_kit::logging::run_service("review-svc", flags, |flags| run(cli, flags)).await
}

async fn run(
    cli: Cli,
    flags: service_kit::config::ServerFlags,
) -> Result<(), Box<dyn std::error::Error>> {
    let (authenticator, dev_principals) = authenticator(&cli)?;
    let database_url = match &cli.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", cli.data_dir.join("review.db").display()),
    };
    if !(cli.day_length_seconds.is_finite() && cli.day_length_seconds > 0.0) {
        return Err(format!(
            "--day-length-seconds must be positive, got {}",
            cli.day_length_seconds
        )
        .into());
    }
    let day_length =
        chrono::Duration::milliseconds((cli.day_length_seconds * 1000.0).round().max(1.0) as i64);
    if cli.day_length_seconds != 86_400.0 {
        tracing::warn!(
            seconds = cli.day_length_seconds,
            "deadline day length shortened: for tests and demonstrations only"
        );
    }
    let classifier = ClassifierClient::connect_lazy(
        &cli.classifier_url,
        classifier_tls(&cli)?,
        RetryPolicy::default(),
    )?;
    let settings = review_svc::ReviewSettings {
        database_url: database_url.clone(),
        classifier,
        authenticator,
        day_length,
        sweep_interval: Duration::from_millis(cli.sweep_interval_ms),
        classification_retry_interval: Duration::from_millis(cli.classifier_retry_interval_ms),
        clock: Arc::new(review_svc::clock::SystemClock),
        audit_key_file: Some(
            cli.audit_key_file
                .clone()
                .unwrap_or_else(|| cli.data_dir.join("audit-key.pem")),
        ),
        max_watches_per_principal: cli.max_watches_per_principal,
    };
    if let Some(addr) = flags.serve_metrics().await? {
        tracing::info!(%addr, "metrics at http://{addr}/metrics");
    }
    // Before serving: a SIGTERM from here on is a graceful stop.
    let stop = service_kit::server::shutdown_signal();
    let listener = flags.bind().await?;
    let console = (!cli.no_console).then(|| {
        let console = review_svc::console::Console::new(
            settings.authenticator.clone(),
            Arc::clone(&settings.clock),
        );
        match &dev_principals {
            Some(principals) => console.with_dev_principals(principals),
            None => console,
        }
    });
    let tls = flags.options.tls.is_some();
    let server = match console {
        Some(console) => {
            review_svc::serve_with_console(listener, settings, flags.options, console).await?
        }
        None => review_svc::serve(listener, settings, flags.options).await?,
    };
    if !cli.no_console {
        let scheme = if tls { "https" } else { "http" };
        let addr = server.server.local_addr;
        if review_svc::console::Console::built() {
            tracing::info!("review console at {scheme}://{addr}/console/");
        } else {
            tracing::warn!("review console at {scheme}://{addr}/console/ was not built into this binary: it shows how to build it");
        }
    }
    tracing::info!(
        addr = %server.server.local_addr,
        database = %redact(&database_url),
        classifier = %cli.classifier_url,
        "review-svc serving"
    );
    stop.await;
    tracing::info!("shutdown requested: reporting NOT_SERVING, then draining");
    server.shutdown().await?;
    tracing::info!("review-svc stopped");
    Ok(())
}

/// Development principals: token and principal.
type DevPrincipals = Vec<(&'static str, review_svc::workflow::Actor)>;

fn authenticator(
    cli: &Cli,
) -> Result<(Authenticator, Option<DevPrincipals>), Box<dyn std::error::Error>> {
    match (&cli.tokens_file, cli.dev) {
        (Some(_), true) => Err("--tokens-file and --dev exclude each other".into()),
        (Some(path), false) => {
            let authenticator = Authenticator::load(path)?;
            // `kill -HUP` re-reads the file: revoke a token without a restart.
            authenticator.reload_on_sighup()?;
            Ok((authenticator, None))
        }
        (None, false) => {
            Err("no principals: pass --tokens-file FILE, or --dev for local development".into())
        }
        (None, true) => {
            let (authenticator, tokens) = Authenticator::development();
            eprintln!("\n*** DEVELOPMENT MODE: fixed, publicly known tokens. Never use --dev with real data. ***");
            // Columns as wide as their longest entry, so the table stays aligned.
            let token_width = tokens.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
            let id_width = tokens.iter().map(|(_, a)| a.id.len()).max().unwrap_or(0);
            let row = |token: &str, id: &str, role: &str, agency: &str| {
                eprintln!("{token:<token_width$}  {id:<id_width$}  {role:<26}  {agency}");
            };
            row("token", "principal", "role", "agency");
            for (token, actor) in &tokens {
                let agency = actor.agency.map(|a| a.as_str()).unwrap_or("-");
                row(token, &actor.id, actor.role.as_str(), agency);
            }
            eprintln!();
            tracing::warn!("development mode: fixed tokens are enabled");
            Ok((authenticator, Some(tokens)))
        }
    }
}

fn classifier_tls(
    cli: &Cli,
) -> Result<Option<tonic::transport::ClientTlsConfig>, Box<dyn std::error::Error>> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    if cli.classifier_ca.is_none() && cli.classifier_cert.is_none() && cli.classifier_key.is_none()
    {
        return Ok(None);
    }
    let mut tls = ClientTlsConfig::new();
    if let Some(ca) = &cli.classifier_ca {
        tls = tls.ca_certificate(Certificate::from_pem(pem_file(ca, PemKind::Certificates)?));
    }
    match (&cli.classifier_cert, &cli.classifier_key) {
        (Some(cert), Some(key)) => {
            tls = tls.identity(Identity::from_pem(
                pem_file(cert, PemKind::Certificates)?,
                pem_file(key, PemKind::PrivateKey)?,
            ));
        }
        (None, None) => {}
        _ => return Err("--classifier-cert and --classifier-key go together".into()),
    }
    Ok(Some(tls))
}

enum PemKind {
    Certificates,
    PrivateKey,
}

/// The PEM file at `path`, once it is known to hold what it is for. tonic
/// reads the classifier's TLS files only when it first connects: a CA
/// file without a certificate started a review-svc whose every filing
/// then stayed CLASSIFICATION_PENDING.
fn pem_file(path: &std::path::Path, kind: PemKind) -> Result<Vec<u8>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (holds, what) = match kind {
        PemKind::Certificates => (
            CertificateDer::pem_slice_iter(&bytes)
                .next()
                .is_some_and(|first| first.is_ok()),
            "certificate",
        ),
        PemKind::PrivateKey => (PrivateKeyDer::from_pem_slice(&bytes).is_ok(), "private key"),
    };
    if !holds {
        return Err(format!("{}: no PEM {what} in it", path.display()));
    }
    Ok(bytes)
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
