//! review-svc: the record of export licence applications, from filing
//! through interagency review and the escalation ladder to a decision.

pub mod audit;
pub mod auth;
pub mod classifier_client;
pub mod classify;
pub mod clock;
pub mod console;
pub mod convert;
pub mod grpc;
pub mod ledger;
pub mod licensing;
pub mod record;
pub mod store;
pub mod watch_gaps;
pub mod workers;
pub mod workflow;

use std::sync::Arc;
use std::time::Duration;

use exportcontrol_proto::review::v1::license_service_server::LicenseServiceServer;
use exportcontrol_proto::review::v1::review_service_server::ReviewServiceServer;
use service_kit::server::{RunningServer, ServeError, ServeOptions};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;

/// What review-svc needs besides the server options.
pub struct ReviewSettings {
    /// `sqlite://path` / a file path, or `postgres://...`.
    pub database_url: String,
    pub classifier: classifier_client::ClassifierClient,
    pub authenticator: auth::Authenticator,
    /// Length of a deadline "day"; shorter only for tests and demonstrations.
    pub day_length: chrono::Duration,
    pub sweep_interval: Duration,
    pub classification_retry_interval: Duration,
    pub clock: Arc<dyn clock::Clock>,
    /// The Ed25519 key that signs audit checkpoints (PKCS#8 PEM), created
    /// when absent; None: a key for this process only.
    pub audit_key_file: Option<std::path::PathBuf>,
    /// `WatchApplications` streams one principal may hold open at once
    /// (0: no bound).
    pub max_watches_per_principal: usize,
}

/// The bound on one principal's open watches unless configured: a console
/// opens one a page, an integration a few.
pub const DEFAULT_MAX_WATCHES_PER_PRINCIPAL: usize = 64;

/// A running review-svc: the server and its background workers.
pub struct ReviewServer {
    pub server: RunningServer,
    pub ledger: Arc<ledger::Ledger>,
    workers: Vec<JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("server: {0}")]
    Serve(#[from] ServeError),
    #[error("audit checkpoints: {0}")]
    Audit(#[from] audit::AuditError),
    #[error("ledger: {0}")]
    Ledger(#[from] ledger::LedgerError),
}

/// Opens the store (applying migrations), starts the workers and serves.
pub async fn serve(
    listener: TcpListener,
    settings: ReviewSettings,
    options: ServeOptions,
) -> Result<ReviewServer, StartError> {
    serve_inner(listener, settings, options, None).await
}

/// As [`serve`], and also the review console at `/console/` with
/// gRPC-Web (over HTTP/1.1 too) on the same address.
pub async fn serve_with_console(
    listener: TcpListener,
    settings: ReviewSettings,
    options: ServeOptions,
    console: console::Console,
) -> Result<ReviewServer, StartError> {
    serve_inner(listener, settings, options, Some(console)).await
}

async fn serve_inner(
    listener: TcpListener,
    settings: ReviewSettings,
    options: ServeOptions,
    console: Option<console::Console>,
) -> Result<ReviewServer, StartError> {
    let store = store::open(&settings.database_url).await?;
    let auditor = Arc::new(audit::Auditor::open(
        Arc::clone(&store),
        settings.audit_key_file.as_deref(),
    )?);
    let secret = store
        .service_key(grpc::keys::PURPOSE, &grpc::Keys::fresh_secret_hex())
        .await?;
    let keys = grpc::Keys::new(secret.as_bytes());
    let workflow = workflow::Workflow::from_embedded(settings.day_length);
    let ledger = Arc::new(ledger::Ledger::new(store, workflow));
    let counted = ledger.count_domestic_shipments().await?;
    if counted > 0 {
        tracing::info!(
            shipments = counted,
            "counted the invoices and dates of domestic shipments recorded by an earlier release"
        );
    }
    let counted = ledger.count_export_filings().await?;
    if counted > 0 {
        tracing::info!(
            shipments = counted,
            "counted the export filings of exports recorded by an earlier release"
        );
    }
    let moved = ledger.rekey_end_users().await?;
    if moved > 0 {
        tracing::info!(
            licences = moved,
            "licences moved to their end users' new keys, with the units counted under the old"
        );
    }
    let workers = vec![
        workers::spawn_sweeper(
            Arc::clone(&ledger),
            Arc::clone(&settings.clock),
            settings.sweep_interval,
        ),
        workers::spawn_classification_retry(
            Arc::clone(&ledger),
            settings.classifier.clone(),
            Arc::clone(&settings.clock),
            settings.classification_retry_interval,
        ),
        workers::spawn_history_poll(Arc::clone(&ledger), workers::HISTORY_POLL_INTERVAL),
    ];
    options.metrics.add_collector(census_collector(
        Arc::clone(&ledger),
        settings.classifier.clone(),
        Arc::clone(&settings.clock),
    ));
    let authenticator = settings.authenticator.clone();
    let clock = Arc::clone(&settings.clock);
    let licenses = grpc::licenses::Licenses::new(
        Arc::clone(&ledger),
        Arc::new(settings.authenticator.clone()),
        Arc::clone(&settings.clock),
        keys.clone(),
    );
    let review = grpc::Review::new(
        Arc::clone(&ledger),
        Arc::new(settings.authenticator),
        settings.classifier,
        settings.clock,
        auditor,
        keys,
    )
    .with_max_message_bytes(options.max_message_bytes)
    .with_max_watches_per_principal(settings.max_watches_per_principal);
    let limit = options.max_message_bytes;
    // Authentication runs before the body is decoded.
    let authenticate = auth::Authenticate::new(authenticator, clock);
    let service = InterceptedService::new(
        ReviewServiceServer::new(review)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
        authenticate.clone(),
    );
    let licenses = InterceptedService::new(
        LicenseServiceServer::new(licenses)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
        authenticate,
    );
    let descriptors = &[exportcontrol_proto::REVIEW_DESCRIPTOR_SET];
    let server = match console {
        Some(console) => {
            service_kit::server::spawn_with_web(
                listener,
                service,
                Some(licenses),
                descriptors,
                options,
                console.into_pages(),
            )
            .await?
        }
        None => {
            service_kit::server::spawn_with(listener, service, Some(licenses), descriptors, options)
                .await?
        }
    };
    Ok(ReviewServer {
        server,
        ledger,
        workers,
    })
}

/// Gauges read at scrape time: applications by state and level, overdue
/// ones, and the classifier client's retries and failures.
fn census_collector(
    ledger: Arc<ledger::Ledger>,
    classifier: classifier_client::ClassifierClient,
    clock: Arc<dyn clock::Clock>,
) -> service_kit::metrics::Collector {
    use service_kit::metrics::gauge;
    use std::sync::atomic::Ordering::Relaxed;
    Arc::new(move || {
        let ledger = Arc::clone(&ledger);
        let classifier = classifier.clone();
        let now = clock.now().timestamp_millis();
        Box::pin(async move {
            let mut out = String::new();
            match ledger.store().census(now).await {
                Ok(census) => {
                    let rows: Vec<_> = census
                        .by_state_and_level
                        .into_iter()
                        .map(|(state, level, count)| {
                            (vec![("state", state), ("level", level)], count as f64)
                        })
                        .collect();
                    gauge(
                        &mut out,
                        "review_applications",
                        "Applications by state and review level",
                        &rows,
                    );
                    gauge(
                        &mut out,
                        "review_applications_overdue",
                        "Applications whose current step or overall deadline has passed",
                        &[(Vec::new(), census.overdue as f64)],
                    );
                }
                Err(error) => tracing::warn!(%error, "metrics: census failed"),
            }
            gauge(
                &mut out,
                "review_watches_open",
                "WatchApplications streams open in this process",
                &[(Vec::new(), ledger.watches_open() as f64)],
            );
            let stats = classifier.stats();
            for (name, help, value) in [
                (
                    "review_classifier_retries",
                    "Classifier calls retried after UNAVAILABLE",
                    stats.retries.load(Relaxed),
                ),
                (
                    "review_classifier_failures",
                    "Classifier calls that failed after retries",
                    stats.failures.load(Relaxed),
                ),
            ] {
                // OpenMetrics: the family is named without `_total`.
                out.push_str(&format!(
                    "# HELP {name} {help}\n# TYPE {name} counter\n{name}_total {value}\n"
                ));
            }
            out
        })
    })
}

impl ReviewServer {
    /// Stops the workers, shuts the server down gracefully, then closes
    /// the store (see `Store::close`).
    pub async fn shutdown(self) -> Result<(), ServeError> {
        for worker in &self.workers {
            worker.abort();
        }
        let stopped = self.server.shutdown().await;
        self.ledger.store().close().await;
        stopped
    }
}
