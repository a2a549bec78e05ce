//! Configuration comes from flags with environment twins. An environment
//! variable with the service's prefix that names no flag is a typo waiting
//! to bite, so it is refused at start.

/// Environment variables starting with `prefix` that no argument of `command` reads.
pub fn unknown_env_keys(command: &clap::Command, prefix: &str) -> Vec<String> {
    let known: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    let mut unknown: Vec<String> = std::env::vars_os()
        .filter_map(|(key, _)| key.into_string().ok())
        .filter(|key| key.starts_with(prefix) && !known.contains(key))
        .collect();
    unknown.sort();
    unknown
}

/// Flags every server has, registered with the service's environment prefix
/// (`CLASSIFIER_LISTEN`, `REVIEW_LISTEN`, ...).
#[derive(Debug, Clone)]
pub struct ServerFlags {
    pub listen: std::net::SocketAddr,
    pub log_format: crate::logging::LogFormat,
    pub log_level: String,
    pub options: crate::server::ServeOptions,
    pub metrics_listen: Option<std::net::SocketAddr>,
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
    pub tls_client_ca: Option<std::path::PathBuf>,
    pub otlp_endpoint: Option<String>,
}

/// The server flags, declared once. Each `env` here is a suffix: the
/// service's prefix is put in front of it (`CLASSIFIER_LISTEN`,
/// `REVIEW_LISTEN`, ...) when the flags join the service's command.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to serve gRPC on
    #[arg(long, env = "LISTEN")]
    pub listen: std::net::SocketAddr,
    /// Log format: text (for people) or json (for machines)
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Log filter when RUST_LOG is not set, e.g. info or debug
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Largest request or response message, in bytes (at least 64 KiB)
    #[arg(long, env = "MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(65_536..))]
    pub max_message_bytes: usize,
    /// Requests served at once per connection; more are shed at once with RESOURCE_EXHAUSTED
    #[arg(long, env = "CONCURRENCY_PER_CONNECTION", default_value_t = 256,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub concurrency_per_connection: usize,
    /// HTTP/2 streams a client may open at once per connection
    #[arg(long, env = "MAX_CONCURRENT_STREAMS", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams: u32,
    /// Close a connection that has not sent the HTTP/2 preface and SETTINGS within this many milliseconds
    #[arg(long, env = "HANDSHAKE_TIMEOUT_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub handshake_timeout_ms: u64,
    /// Close a connection with no request in flight for this many milliseconds (0: never)
    #[arg(long, env = "IDLE_TIMEOUT_MS", default_value_t = 300_000)]
    pub idle_timeout_ms: u64,
    /// Connections one IP address may hold open at once; more are closed at once (0: no bound)
    #[arg(long, env = "MAX_CONNECTIONS_PER_PEER", default_value_t = 256)]
    pub max_connections_per_peer: usize,
    /// On SIGTERM/ctrl-c, report NOT_SERVING for this long before draining
    #[arg(long, env = "SHUTDOWN_GRACE_MS", default_value_t = 1000)]
    pub shutdown_grace_ms: u64,
    /// Address to serve Prometheus metrics on (HTTP, /metrics); off when unset
    #[arg(long, env = "METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// PEM certificate chain: serve TLS (needs --tls-key)
    #[arg(long, env = "TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, env = "TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,
    /// PEM CA bundle: require client certificates signed by it (mutual TLS)
    #[arg(long, env = "TLS_CLIENT_CA")]
    pub tls_client_ca: Option<std::path::PathBuf>,
    /// OTLP/gRPC collector to export spans to, e.g. http://127.0.0.1:4317; off when unset
    #[arg(long, env = "OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

impl ServerFlags {
    /// Adds the server flags to `command`, their environment twins named
    /// with `prefix`.
    pub fn augment(
        command: clap::Command,
        prefix: &str,
        default_listen: &'static str,
    ) -> clap::Command {
        use clap::Args as _;
        let ours: Vec<String> = ServerArgs::augment_args(clap::Command::new("server"))
            .get_arguments()
            .map(|arg| arg.get_id().to_string())
            .collect();
        ServerArgs::augment_args(command)
            .mut_args(|arg| {
                if !ours.iter().any(|id| id == arg.get_id().as_str()) {
                    return arg;
                }
                match arg.get_env().map(|env| env.to_string_lossy().into_owned()) {
                    Some(suffix) => arg.env(format!("{prefix}{suffix}")),
                    None => arg,
                }
            })
            .mut_arg("listen", |arg| {
                arg.default_value(default_listen).required(false)
            })
    }

    /// Reads the flags added by `augment`; the error names the flag.
    pub fn from_matches(matches: &clap::ArgMatches) -> Result<Self, String> {
        use clap::FromArgMatches as _;
        let args = ServerArgs::from_arg_matches(matches).map_err(|e| e.to_string())?;
        let log_format = match args.log_format.as_str() {
            "json" => crate::logging::LogFormat::Json,
            _ => crate::logging::LogFormat::Text,
        };
        let options = crate::server::ServeOptions {
            max_message_bytes: args.max_message_bytes,
            concurrency_per_connection: args.concurrency_per_connection,
            max_concurrent_streams: args.max_concurrent_streams,
            handshake_timeout: std::time::Duration::from_millis(args.handshake_timeout_ms.max(1)),
            idle_timeout: (args.idle_timeout_ms != 0)
                .then(|| std::time::Duration::from_millis(args.idle_timeout_ms)),
            max_connections_per_peer: args.max_connections_per_peer,
            shutdown_grace: std::time::Duration::from_millis(args.shutdown_grace_ms),
            tls: None,
            metrics: crate::metrics::Registry::new(),
        };
        let mut flags = Self {
            listen: args.listen,
            log_format,
            log_level: args.log_level,
            options,
            metrics_listen: args.metrics_listen,
            tls_cert: args.tls_cert,
            tls_key: args.tls_key,
            tls_client_ca: args.tls_client_ca,
            otlp_endpoint: otlp_endpoint(args.otlp_endpoint.as_ref())?,
        };
        flags.options.tls = flags.load_tls()?;
        Ok(flags)
    }

    /// Serves the metrics registry when `--metrics-listen` was given.
    pub async fn serve_metrics(&self) -> std::io::Result<Option<std::net::SocketAddr>> {
        match self.metrics_listen {
            Some(addr) => crate::metrics::serve(addr, std::sync::Arc::clone(&self.options.metrics))
                .await
                .map(Some)
                .map_err(|e| cannot_listen(addr, "--metrics-listen", e)),
            None => Ok(None),
        }
    }

    /// The listener of `--listen`.
    pub async fn bind(&self) -> std::io::Result<tokio::net::TcpListener> {
        tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|e| cannot_listen(self.listen, "--listen", e))
    }

    /// Reads the TLS files named by the flags (read once, at start).
    fn load_tls(&self) -> Result<Option<tonic::transport::ServerTlsConfig>, String> {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        match (&self.tls_cert, &self.tls_key) {
            (None, None) if self.tls_client_ca.is_some() => {
                Err("--tls-client-ca needs --tls-cert and --tls-key".to_owned())
            }
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => {
                let mut config =
                    ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?));
                if let Some(ca) = &self.tls_client_ca {
                    config = config.client_ca_root(Certificate::from_pem(read(ca)?));
                }
                Ok(Some(config))
            }
            _ => Err("--tls-cert and --tls-key go together".to_owned()),
        }
    }
}

/// A bind error that names the address and the flag it came from: a
/// service may have two listeners, and "Address already in use" alone
/// does not say which.
fn cannot_listen(addr: std::net::SocketAddr, flag: &str, error: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        error.kind(),
        format!("cannot listen on {addr} ({flag}): {error}"),
    )
}

/// An `http://` URL of an OTLP/gRPC collector (plain gRPC: no TLS).
fn otlp_endpoint(text: Option<&String>) -> Result<Option<String>, String> {
    let Some(text) = text else {
        return Ok(None);
    };
    match text.parse::<http::Uri>() {
        Ok(uri) if uri.scheme_str() == Some("http") && uri.host().is_some() => {
            Ok(Some(text.clone()))
        }
        Ok(_) => Err(format!(
            "--otlp-endpoint {text:?}: expected http://HOST:PORT"
        )),
        Err(e) => Err(format!("--otlp-endpoint {text:?}: {e}")),
    }
}

/// Parses flags and environment for a service: its own `T` plus the server flags.
/// Exits with a usage message on any error, including unknown `prefix`* variables.
pub fn parse_service<T: clap::Parser + clap::FromArgMatches>(
    prefix: &str,
    default_listen: &'static str,
) -> (T, ServerFlags) {
    let mut command = ServerFlags::augment(T::command(), prefix, default_listen);
    let unknown = unknown_env_keys(&command, prefix);
    if !unknown.is_empty() {
        command
            .error(
                clap::error::ErrorKind::UnknownArgument,
                format!(
                    "unknown environment variable(s): {}; see --help for the accepted ones",
                    unknown.join(", ")
                ),
            )
            .exit();
    }
    let matches = command.clone().get_matches();
    let own = T::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let server = ServerFlags::from_matches(&matches).unwrap_or_else(|e| {
        command
            .error(clap::error::ErrorKind::ValueValidation, e)
            .exit()
    });
    (own, server)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Result<ServerFlags, String> {
        let command = ServerFlags::augment(clap::Command::new("svc"), "SVC_TEST_", "127.0.0.1:0");
        let matches = command
            .try_get_matches_from([&["svc"], args].concat())
            .map_err(|e| e.to_string())?;
        ServerFlags::from_matches(&matches)
    }

    #[test]
    fn env_twins_carry_the_prefix_and_unknown_variables_are_found() {
        let command =
            ServerFlags::augment(clap::Command::new("svc"), "SVC_PREFIX_TEST_", "127.0.0.1:0");
        let envs: Vec<String> = command
            .get_arguments()
            .filter_map(|arg| arg.get_env())
            .map(|env| env.to_string_lossy().into_owned())
            .collect();
        for expected in [
            "SVC_PREFIX_TEST_LISTEN",
            "SVC_PREFIX_TEST_IDLE_TIMEOUT_MS",
            "SVC_PREFIX_TEST_MAX_CONNECTIONS_PER_PEER",
            "SVC_PREFIX_TEST_HANDSHAKE_TIMEOUT_MS",
        ] {
            assert!(envs.iter().any(|e| e == expected), "{expected}: {envs:?}");
        }
        assert!(
            envs.iter().all(|e| e.starts_with("SVC_PREFIX_TEST_")),
            "{envs:?}"
        );
        std::env::set_var("SVC_PREFIX_TEST_LISTN", "127.0.0.1:1");
        assert_eq!(
            unknown_env_keys(&command, "SVC_PREFIX_TEST_"),
            vec!["SVC_PREFIX_TEST_LISTN".to_owned()]
        );
        std::env::remove_var("SVC_PREFIX_TEST_LISTN");
    }

    #[test]
    fn connection_limits_come_from_flags() {
        let defaults = flags(&[]).unwrap().options;
        assert_eq!(
            defaults.idle_timeout,
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(
            defaults.handshake_timeout,
            std::time::Duration::from_secs(5)
        );
        let set = flags(&[
            "--idle-timeout-ms",
            "0",
            "--handshake-timeout-ms",
            "250",
            "--max-connections-per-peer",
            "3",
        ])
        .unwrap()
        .options;
        assert_eq!(set.idle_timeout, None);
        assert_eq!(set.handshake_timeout, std::time::Duration::from_millis(250));
        assert_eq!(set.max_connections_per_peer, 3);
        assert!(flags(&["--idle-timeout-ms", "soon"]).is_err());
        // Values that would make the server refuse every request or
        // connection are refused at start instead.
        for (flag, value) in [
            ("--concurrency-per-connection", "0"),
            ("--max-concurrent-streams", "0"),
            ("--handshake-timeout-ms", "0"),
            ("--max-message-bytes", "10"),
        ] {
            assert!(flags(&[flag, value]).is_err(), "{flag} {value}");
        }
        assert!(flags(&["--max-message-bytes", "65536"]).is_ok());
    }

    #[test]
    fn otlp_export_is_off_unless_an_http_endpoint_is_given() {
        assert_eq!(flags(&[]).unwrap().otlp_endpoint, None);
        let on = flags(&["--otlp-endpoint", "http://127.0.0.1:4317"]).unwrap();
        assert_eq!(on.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4317"));
        for bad in [
            "127.0.0.1:4317",
            "https://collector:4317",
            "http://",
            "not a url",
        ] {
            let error = flags(&["--otlp-endpoint", bad]).unwrap_err();
            assert!(error.contains("--otlp-endpoint"), "{bad}: {error}");
        }
    }
}
