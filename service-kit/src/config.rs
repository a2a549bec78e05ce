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

/// (flag, environment suffix, default, help)
const SERVER_FLAGS: &[(&str, &str, Option<&str>, &str)] = &[
    ("listen", "LISTEN", None, "Address to serve gRPC on"),
    (
        "log-format",
        "LOG_FORMAT",
        Some("text"),
        "Log format: text (for people) or json (for machines)",
    ),
    (
        "log-level",
        "LOG_LEVEL",
        Some("info"),
        "Log filter when RUST_LOG is not set, e.g. info or debug",
    ),
    (
        "max-message-bytes",
        "MAX_MESSAGE_BYTES",
        Some("4194304"),
        "Largest request or response message, in bytes",
    ),
    (
        "concurrency-per-connection",
        "CONCURRENCY_PER_CONNECTION",
        Some("256"),
        "Requests served at once per connection; more are shed at once with RESOURCE_EXHAUSTED",
    ),
    (
        "max-concurrent-streams",
        "MAX_CONCURRENT_STREAMS",
        Some("512"),
        "HTTP/2 streams a client may open at once per connection",
    ),
    (
        "shutdown-grace-ms",
        "SHUTDOWN_GRACE_MS",
        Some("1000"),
        "On SIGTERM/ctrl-c, report NOT_SERVING for this long before draining",
    ),
    (
        "metrics-listen",
        "METRICS_LISTEN",
        None,
        "Address to serve Prometheus metrics on (HTTP, /metrics); off when unset",
    ),
    (
        "tls-cert",
        "TLS_CERT",
        None,
        "PEM certificate chain: serve TLS (needs --tls-key)",
    ),
    ("tls-key", "TLS_KEY", None, "PEM private key for --tls-cert"),
    (
        "tls-client-ca",
        "TLS_CLIENT_CA",
        None,
        "PEM CA bundle: require client certificates signed by it (mutual TLS)",
    ),
    (
        "otlp-endpoint",
        "OTLP_ENDPOINT",
        None,
        "OTLP/gRPC collector to export spans to, e.g. http://127.0.0.1:4317; off when unset",
    ),
];

impl ServerFlags {
    /// Adds the server flags to `command`.
    pub fn augment(
        mut command: clap::Command,
        prefix: &str,
        default_listen: &'static str,
    ) -> clap::Command {
        for (flag, env, default, help) in SERVER_FLAGS {
            let mut arg = clap::Arg::new(*flag)
                .long(*flag)
                .env(format!("{prefix}{env}"))
                .help(*help);
            match (*flag, default) {
                ("listen", _) => arg = arg.default_value(default_listen),
                (_, Some(default)) => arg = arg.default_value(*default),
                _ => {}
            }
            command = command.arg(arg);
        }
        command
    }

    /// Reads the flags added by `augment`; the error names the flag.
    pub fn from_matches(matches: &clap::ArgMatches) -> Result<Self, String> {
        fn get<T: std::str::FromStr>(
            matches: &clap::ArgMatches,
            flag: &str,
        ) -> Result<Option<T>, String>
        where
            T::Err: std::fmt::Display,
        {
            matches
                .get_one::<String>(flag)
                .map(|text| {
                    text.parse::<T>()
                        .map_err(|e| format!("--{flag} {text:?}: {e}"))
                })
                .transpose()
        }
        let required = |flag: &str| format!("--{flag} is required");
        let log_format = match matches.get_one::<String>("log-format").map(String::as_str) {
            Some("json") => crate::logging::LogFormat::Json,
            Some("text") | None => crate::logging::LogFormat::Text,
            Some(other) => return Err(format!("--log-format {other:?}: expected text or json")),
        };
        let options = crate::server::ServeOptions {
            max_message_bytes: get(matches, "max-message-bytes")?
                .ok_or_else(|| required("max-message-bytes"))?,
            concurrency_per_connection: get(matches, "concurrency-per-connection")?
                .ok_or_else(|| required("concurrency-per-connection"))?,
            max_concurrent_streams: get(matches, "max-concurrent-streams")?
                .ok_or_else(|| required("max-concurrent-streams"))?,
            shutdown_grace: std::time::Duration::from_millis(
                get(matches, "shutdown-grace-ms")?.ok_or_else(|| required("shutdown-grace-ms"))?,
            ),
            tls: None,
            metrics: crate::metrics::Registry::new(),
        };
        let mut flags = Self {
            listen: get(matches, "listen")?.ok_or_else(|| required("listen"))?,
            log_format,
            log_level: get(matches, "log-level")?.unwrap_or_else(|| "info".to_owned()),
            options,
            metrics_listen: get(matches, "metrics-listen")?,
            tls_cert: get(matches, "tls-cert")?,
            tls_key: get(matches, "tls-key")?,
            tls_client_ca: get(matches, "tls-client-ca")?,
            otlp_endpoint: otlp_endpoint(matches.get_one::<String>("otlp-endpoint"))?,
        };
        flags.options.tls = flags.load_tls()?;
        Ok(flags)
    }

    /// Serves the metrics registry when `--metrics-listen` was given.
    pub async fn serve_metrics(&self) -> std::io::Result<Option<std::net::SocketAddr>> {
        match self.metrics_listen {
            Some(addr) => crate::metrics::serve(addr, std::sync::Arc::clone(&self.options.metrics))
                .await
                .map(Some),
            None => Ok(None),
        }
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
