//! Logs as text for people or JSON for machines, filtered by `RUST_LOG`;
//! optionally, spans exported over OTLP/gRPC as well.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::ValueEnum;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber once; later calls (tests starting several
/// servers in one process) are ignored.
pub fn init(format: LogFormat, default_level: &str) {
    install(format, default_level, None);
}

/// Like `init`, and with `otlp_endpoint` (e.g. `http://127.0.0.1:4317`)
/// also exports spans over OTLP/gRPC in batches, as `service_name`. Call
/// inside the Tokio runtime, and `Telemetry::shutdown` before exit.
pub fn init_with_export(
    format: LogFormat,
    default_level: &str,
    otlp_endpoint: Option<&str>,
    service_name: &'static str,
) -> Result<Telemetry, String> {
    let Some(endpoint) = otlp_endpoint else {
        init(format, default_level);
        return Ok(Telemetry { provider: None });
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| format!("--otlp-endpoint {endpoint:?}: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_id_generator(NextIds(RandomIdGenerator::default()))
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service_name)
                .build(),
        )
        .build();
    if install(format, default_level, Some(provider.tracer(service_name))) {
        EXPORTING.store(true, Ordering::Relaxed);
    }
    Ok(Telemetry {
        provider: Some(provider),
    })
}

/// The span exporter `init_with_export` started, if any.
#[must_use = "shut it down before exit, or the spans still buffered are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter (waits a few
    /// seconds at most).
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        EXPORTING.store(false, Ordering::Relaxed);
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "span export did not shut down cleanly"),
            Err(error) => tracing::warn!(%error, "span export did not shut down cleanly"),
        }
    }
}

/// A service's whole life after its flags are read: logging (and span
/// export) started as `flags` say, then `run(flags)` awaited, its error
/// logged and also printed to standard error (a JSON log may go where the
/// operator does not look), then the spans still buffered sent. Logging
/// that cannot start is an error too.
pub async fn run_service<F, R>(
    service_name: &'static str,
    flags: crate::config::ServerFlags,
    run: R,
) -> std::process::ExitCode
where
    R: FnOnce(crate::config::ServerFlags) -> F,
    F: std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    let telemetry = match init_with_export(
        flags.log_format,
        &flags.log_level,
        flags.otlp_endpoint.as_deref(),
        service_name,
    ) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("{service_name}: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = match run(flags).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "{service_name} stopped with an error");
            eprintln!("{service_name}: {error}");
            std::process::ExitCode::FAILURE
        }
    };
    telemetry.shutdown().await;
    code
}

/// Whether spans are being exported (`TraceContext::attach` does nothing otherwise).
pub fn exporting_spans() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Targets whose spans are never exported: the exporter's own transport and
/// the SDK, which would otherwise feed on themselves at trace level.
const NOT_EXPORTED: &[&str] = &["opentelemetry", "tonic", "h2", "hyper", "tower"];

/// Installs the subscriber; true when it was installed by this call.
fn install(format: LogFormat, default_level: &str, tracer: Option<SdkTracer>) -> bool {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let Some(tracer) = tracer else {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(colours())
            .with_writer(std::io::stderr);
        return match format {
            LogFormat::Text => builder.try_init().is_ok(),
            LogFormat::Json => builder.json().flatten_event(true).try_init().is_ok(),
        };
    };
    // Parents come from the `tracing` span tree (or `TraceContext::attach`),
    // not from a thread-local OpenTelemetry context that a span entered
    // across an `.await` would leave behind on another thread.
    let export = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_context_activation(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            !NOT_EXPORTED
                .iter()
                .any(|target| meta.target().starts_with(target))
        }));
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(colours())
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter).with(export);
    match format {
        LogFormat::Text => registry.with(logs).try_init().is_ok(),
        LogFormat::Json => registry
            .with(logs.json().flatten_event(true))
            .try_init()
            .is_ok(),
    }
}

/// Colours only for a person at a terminal: a log file or a collector
/// reading stderr gets the text without escape codes.
fn colours() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

thread_local! {
    static NEXT_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
    static NEXT_SPAN_ID: Cell<Option<SpanId>> = const { Cell::new(None) };
}

/// Runs `start`, which starts one span on this thread, so that the span gets
/// `span_id`, and `trace_id` if it has no parent.
pub(crate) fn with_next_ids<R>(trace_id: TraceId, span_id: SpanId, start: impl FnOnce() -> R) -> R {
    NEXT_TRACE_ID.with(|next| next.set(Some(trace_id)));
    NEXT_SPAN_ID.with(|next| next.set(Some(span_id)));
    let result = start();
    NEXT_TRACE_ID.with(|next| next.set(None));
    NEXT_SPAN_ID.with(|next| next.set(None));
    result
}

/// Random ids, except for a span started inside `with_next_ids`, which gets
/// the ids of its `TraceContext`, so that exported ids match logged and
/// propagated ones.
#[derive(Debug)]
struct NextIds(RandomIdGenerator);

impl IdGenerator for NextIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE_ID
            .with(Cell::take)
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        NEXT_SPAN_ID
            .with(Cell::take)
            .unwrap_or_else(|| self.0.new_span_id())
    }
}
