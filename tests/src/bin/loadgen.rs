//! Load generator for classifier-svc and review-svc (and the baseline):
//! unary and streaming ClassifyItem, CreateApplication and ListApplications
//! over real gRPC connections, with a warm-up, a duration or a request
//! count; reports calls per second, latency percentiles and the count of
//! every status code (only OK is a success). Also times a service's start-up
//! to healthy, measures review-svc's store and deadline sweeper in process,
//! and prints the benchmark's table from the JSON lines of its runs.
//!
//! ```text
//! loadgen --target 127.0.0.1:50051 --rpc classify --connections 4 --concurrency 64 --duration 10 --warmup 2
//! loadgen --target 127.0.0.1:50052 --rpc create-application --token dev-applicant --concurrency 32 --requests 10000
//! loadgen --rpc startup --target 127.0.0.1:50051 --health-service exportcontrol.classifier.v1.ClassifierService -- target/release/classifier-svc --listen 127.0.0.1:50051
//! loadgen --report results.jsonl
//! ```

#[path = "../load/mod.rs"]
mod load;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use exportcontrol_proto::review::v1 as rpb;
use serde_json::{json, Value};

use load::grpc::{CallSpec, Rpc};
use load::inproc::StoreTuning;
use load::payload::Payload;
use load::{CpuProbe, Window};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Unary ClassifyItem (classifier-svc or the baseline).
    Classify,
    /// ClassifyItems: requests streamed as fast as flow control allows, one stream per worker.
    ClassifyStream,
    /// review-svc CreateApplication (a fresh request id per call unless --no-request-id).
    CreateApplication,
    /// review-svc ListApplications (first page, or following the pages with --follow-pages).
    ListApplications,
    /// review-svc RecordShipment: one unit a call against --licenses licences
    /// (issued first, outside the measurement).
    RecordShipment,
    /// Start the command after `--`, time it to health SERVING, leave it running.
    Startup,
    /// In process: file applications straight into review-svc's store (--database-url).
    StoreCreate,
    /// In process: review-svc's deadline sweeper over --database-url, clock --days-ahead in the future.
    Sweep,
}

/// Load generator for the export-control services.
#[derive(Debug, Parser)]
#[command(name = "loadgen")]
struct Cli {
    /// Server address (host:port or http://host:port).
    #[arg(long, default_value = "127.0.0.1:50051")]
    target: String,
    /// What to call.
    #[arg(long, value_enum, default_value = "classify")]
    rpc: Mode,
    /// HTTP/2 connections; workers are spread over them.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Calls in flight at once (streams, for classify-stream).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Measure for this many seconds (after the warm-up).
    #[arg(long, conflicts_with = "requests")]
    duration: Option<f64>,
    /// Measure this many calls (after the warm-up) instead of a duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Request payload.
    #[arg(long, value_enum, default_value = "h200-cn")]
    payload: Payload,
    /// ClassifyItem(s): the answer's view (basic leaves out every text).
    #[arg(long, value_enum, default_value = "full")]
    view: View,
    /// Write the ClassifyItem request as one gRPC frame (0x00, 4-byte
    /// big-endian length, protobuf bytes) to this file and exit: h2load's
    /// `--data` input.
    #[arg(long)]
    write_frame: Option<PathBuf>,
    /// Bearer token for review-svc (default: dev-applicant to create, dev-officer to list).
    #[arg(long)]
    token: Option<String>,
    /// Deadline of every call (sent as grpc-timeout), in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// CreateApplication without a request id.
    #[arg(long, default_value_t = false)]
    no_request_id: bool,
    /// RecordShipment: how many licences the calls are spread over.
    #[arg(long, default_value_t = 1)]
    licenses: usize,
    /// ListApplications page size.
    #[arg(long, default_value_t = 50)]
    page_size: i32,
    /// ListApplications state filter, e.g. STATE_AGENCY_REVIEW.
    #[arg(long)]
    state: Option<String>,
    /// ListApplications: follow next_page_token through every page.
    #[arg(long, default_value_t = false)]
    follow_pages: bool,
    /// Processes whose CPU time over the measured window is reported (repeatable).
    #[arg(long = "server-pid")]
    server_pids: Vec<String>,
    /// Name of this run in the output.
    #[arg(long, default_value = "")]
    label: String,
    /// Print JSON (one line) instead of the human summary.
    #[arg(long, default_value_t = false)]
    json: bool,
    /// Also append the JSON line to this file.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Fail (exit 1) when any measured call did not answer OK.
    #[arg(long, default_value_t = false)]
    strict: bool,
    /// Client runtime threads (default: one per core).
    #[arg(long)]
    client_threads: Option<usize>,

    /// startup: the health service name to wait for.
    #[arg(long, default_value = "")]
    health_service: String,
    /// startup: append the command's output to this file.
    #[arg(long)]
    log: Option<PathBuf>,
    /// startup: give up after this many seconds.
    #[arg(long, default_value_t = 20.0)]
    startup_timeout: f64,

    /// store-create, sweep: review-svc's database (sqlite://FILE or postgres://...).
    #[arg(long)]
    database_url: Option<String>,
    /// store-create: classifier-svc to classify with.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    classifier_url: String,
    /// store-create: ask the classifier for every filing (else one answer is reused).
    #[arg(long, default_value_t = false)]
    classify_each: bool,
    /// store-create, sweep: SQLite writes per transaction (review-svc: 256).
    #[arg(long)]
    sqlite_max_batch: Option<usize>,
    /// store-create, sweep: PostgreSQL pool size (review-svc: 2 x cores + 1).
    #[arg(long)]
    pg_pool: Option<u32>,
    /// sweep: how far ahead the sweeper's clock is, in days (agency reviews fall due after 30).
    #[arg(long, default_value_t = 31)]
    days_ahead: i64,

    /// Print the benchmark table from a file of JSON lines and exit.
    #[arg(long)]
    report: Option<PathBuf>,

    /// startup: the command to run.
    #[arg(last = true)]
    command: Vec<String>,
}

/// The view of ClassifyItem answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum View {
    Basic,
    Full,
}

impl View {
    fn number(self) -> i32 {
        use exportcontrol_proto::classifier::v1::ClassificationView as V;
        match self {
            View::Basic => V::Basic as i32,
            View::Full => V::Full as i32,
        }
    }
}

/// One gRPC frame of the payload's ClassifyItem request.
fn classify_frame(payload: Payload, view: View) -> Vec<u8> {
    let request = exportcontrol_proto::classifier::v1::ClassifyItemRequest {
        view: view.number(),
        ..payload.classify_request()
    };
    let body = prost::Message::encode_to_vec(&request);
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.push(0);
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(path) = &cli.report {
        return match std::fs::read_to_string(path) {
            Ok(text) => {
                print!("{}", load::report::table(&text));
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("loadgen: {}: {e}", path.display());
                std::process::ExitCode::FAILURE
            }
        };
    }
    if let Some(path) = &cli.write_frame {
        return match std::fs::write(path, classify_frame(cli.payload, cli.view)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("loadgen: {}: {e}", path.display());
                std::process::ExitCode::FAILURE
            }
        };
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = cli.client_threads {
        runtime.worker_threads(threads.max(1));
    }
    let result = match runtime.build() {
        Ok(rt) => rt.block_on(run(&cli)),
        Err(e) => Err(format!("runtime: {e}")),
    };
    match result {
        Ok(record) => {
            if let Some(path) = &cli.results {
                let appended = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .and_then(|mut f| writeln!(f, "{record}"));
                if let Err(e) = appended {
                    eprintln!("loadgen: {}: {e}", path.display());
                    return std::process::ExitCode::FAILURE;
                }
            }
            if cli.json {
                println!("{record}");
            } else {
                print!("{}", load::report::human(&record));
            }
            let errors = record["errors"].as_u64().unwrap_or(0);
            if cli.strict && errors > 0 {
                eprintln!("loadgen: {errors} calls did not answer OK");
                return std::process::ExitCode::FAILURE;
            }
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("loadgen: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn parse_state(name: &str) -> Result<rpb::State, String> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("STATE_") {
        upper
    } else {
        format!("STATE_{upper}")
    };
    rpb::State::from_str_name(&full).ok_or_else(|| format!("unknown state {name:?}"))
}

fn window(cli: &Cli) -> Result<Arc<Window>, String> {
    if cli.duration.is_none() && cli.requests.is_none() {
        return Err("give --duration SECS or --requests N".to_owned());
    }
    let seconds = |s: f64, what: &str| {
        if s.is_finite() && s >= 0.0 {
            Ok(Duration::from_secs_f64(s))
        } else {
            Err(format!("--{what} must be a non-negative number of seconds"))
        }
    };
    Ok(Arc::new(Window::new(
        seconds(cli.warmup, "warmup")?,
        cli.duration.map(|d| seconds(d, "duration")).transpose()?,
        cli.requests,
    )))
}

async fn run(cli: &Cli) -> Result<Value, String> {
    let mode = cli
        .rpc
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let mut record = json!({
        "label": cli.label,
        "rpc": mode,
        "target": cli.target,
    });
    let extra = match cli.rpc {
        Mode::Startup => {
            let addr: SocketAddr = cli
                .target
                .trim_start_matches("http://")
                .parse()
                .map_err(|e| format!("--target {}: {e}", cli.target))?;
            load::startup::start(
                &cli.command,
                addr,
                &cli.health_service,
                cli.log.as_deref(),
                Duration::from_secs_f64(cli.startup_timeout.max(0.1)),
            )
            .await?
        }
        Mode::Sweep => {
            let url = cli
                .database_url
                .as_deref()
                .ok_or("sweep needs --database-url")?;
            let ledger = Arc::new(load::inproc::open_ledger(url, &tuning(cli)).await?);
            record["target"] = json!(redact(url));
            let limit = Duration::from_secs_f64(cli.duration.unwrap_or(3600.0).max(0.0));
            let probe = CpuProbe::start(&cli.server_pids);
            let mut v = load::inproc::sweep(ledger, cli.days_ahead, cli.concurrency, limit).await?;
            let elapsed = v["elapsed_s"].as_f64().unwrap_or(0.0);
            v["cpu"] = probe.finish(elapsed, v["ok"].as_u64().unwrap_or(0));
            v
        }
        Mode::StoreCreate => {
            let url = cli
                .database_url
                .as_deref()
                .ok_or("store-create needs --database-url")?;
            record["target"] = json!(redact(url));
            let ledger = Arc::new(load::inproc::open_ledger(url, &tuning(cli)).await?);
            let window = window(cli)?;
            let probe = cpu_probe_at_measure(cli, &window);
            let stats = load::inproc::store_create(
                ledger,
                &cli.classifier_url,
                cli.payload,
                cli.classify_each,
                cli.concurrency,
                Arc::clone(&window),
            )
            .await?;
            finish(cli, stats, &window, probe).await
        }
        Mode::Classify
        | Mode::ClassifyStream
        | Mode::CreateApplication
        | Mode::RecordShipment
        | Mode::ListApplications => {
            let rpc = match cli.rpc {
                Mode::Classify => Rpc::Classify,
                Mode::ClassifyStream => Rpc::ClassifyStream,
                Mode::CreateApplication => Rpc::CreateApplication,
                Mode::RecordShipment => Rpc::RecordShipment,
                _ => Rpc::ListApplications,
            };
            let token = cli.token.clone().or(match rpc {
                Rpc::CreateApplication | Rpc::RecordShipment => Some("dev-applicant".to_owned()),
                Rpc::ListApplications => Some("dev-officer".to_owned()),
                _ => None,
            });
            let spec = CallSpec {
                rpc,
                payload: cli.payload,
                token,
                timeout: Duration::from_millis(cli.timeout_ms.max(1)),
                request_ids: !cli.no_request_id,
                page_size: cli.page_size,
                state: cli.state.as_deref().map(parse_state).transpose()?,
                follow_pages: cli.follow_pages,
                view: cli.view.number(),
                licenses: Arc::default(),
            };
            let channels = load::grpc::connect(&cli.target, cli.connections).await?;
            let licenses = if rpc == Rpc::RecordShipment {
                let issued = load::grpc::prepare_licenses(&channels[0], cli.licenses, 32).await?;
                record["licenses"] = json!(issued.len());
                issued
            } else {
                Vec::new()
            };
            let spec = CallSpec {
                licenses: Arc::new(licenses),
                ..spec
            };
            let window = window(cli)?;
            let probe = cpu_probe_at_measure(cli, &window);
            let stats =
                load::grpc::run(&channels, cli.concurrency, &spec, Arc::clone(&window)).await?;
            finish(cli, stats, &window, probe).await
        }
    };
    let settings = json!({
        "connections": cli.connections,
        "concurrency": cli.concurrency,
        "warmup_s": cli.warmup,
        "payload": Payload::to_possible_value(&cli.payload).map(|v| v.get_name().to_owned()),
    });
    for source in [settings, extra] {
        if let (Some(into), Value::Object(from)) = (record.as_object_mut(), source) {
            into.extend(from);
        }
    }
    Ok(record)
}

fn tuning(cli: &Cli) -> StoreTuning {
    StoreTuning {
        sqlite_max_batch: cli.sqlite_max_batch,
        pg_pool: cli.pg_pool,
    }
}

/// Samples the servers' CPU time when the measured window opens.
fn cpu_probe_at_measure(cli: &Cli, window: &Window) -> tokio::task::JoinHandle<CpuProbe> {
    let pids = cli.server_pids.clone();
    let at = tokio::time::Instant::from_std(window.measure_from);
    tokio::spawn(async move {
        tokio::time::sleep_until(at).await;
        CpuProbe::start(&pids)
    })
}

async fn finish(
    cli: &Cli,
    stats: load::Stats,
    window: &Window,
    probe: tokio::task::JoinHandle<CpuProbe>,
) -> Value {
    let mut v = load::summary(&stats, window);
    if !cli.server_pids.is_empty() || cli.rpc != Mode::Startup {
        if let Ok(probe) = probe.await {
            let elapsed = v["elapsed_s"].as_f64().unwrap_or(0.0);
            let ok = if stats.items > 0 {
                stats.items
            } else {
                stats.ok()
            };
            v["cpu"] = probe.finish(elapsed, ok);
        }
    }
    v
}

/// A database URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
