//! Starts the services as separate processes, the way an operator does, and
//! stops them again: used by the one-command launcher and by the end-to-end
//! tests. A started process is killed when its handle is dropped, so a test
//! that fails leaves nothing running.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::ClientTlsConfig;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

pub mod classify_item_only;

pub const CLASSIFIER_SERVICE: &str = "exportcontrol.classifier.v1.ClassifierService";
pub const REVIEW_SERVICE: &str = "exportcontrol.review.v1.ReviewService";

/// Where cargo put the service binaries: beside the running executable
/// (target/<profile>/), or one level up for test executables (target/<profile>/deps/).
/// `FIXTURE_BINARIES` names another folder: the previous release's binaries,
/// when a test writes a fixture with them.
pub fn binary(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("FIXTURE_BINARIES") {
        return PathBuf::from(dir).join(name);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(name)
}

/// A free port on 127.0.0.1 (released again, so the child can bind it),
/// outside the range the test run's own connections take ports from.
pub fn free_port() -> std::io::Result<SocketAddr> {
    test_support::ports::free_port()
}

/// The service binary `name` as a command, without the test run's own
/// settings.
pub fn service_command(name: &str) -> tokio::process::Command {
    test_support::service_command(&binary(name)).into()
}

/// Runs `command` to its end (within a minute) and returns what it wrote on
/// stderr, which must say why it stopped: it may not have succeeded.
pub async fn refused_at_start(mut command: tokio::process::Command) -> String {
    let run = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("stopped within a minute")
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "started:\n{stderr}");
    stderr
}

/// A service running as a child process.
pub struct ServiceProcess {
    pub name: String,
    pub addr: SocketAddr,
    child: Option<Child>,
    binary: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    log: Option<PathBuf>,
    tls: Option<ClientTlsConfig>,
}

#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

impl ServiceProcess {
    /// Starts `binary --listen addr args...` and waits until its health
    /// service reports `service` SERVING. Output goes to `log` (appended) or
    /// is inherited.
    pub async fn start(
        binary: &Path,
        addr: SocketAddr,
        args: Vec<String>,
        envs: Vec<(String, String)>,
        service: &str,
        log: Option<PathBuf>,
    ) -> Result<Self, StartError> {
        let mut process = Self::stopped(binary, addr, args, log);
        process.envs = envs;
        process.launch(service).await
    }

    /// Like `start`, for a server that speaks TLS: health checks use `tls`.
    pub async fn start_tls(
        binary: &Path,
        addr: SocketAddr,
        args: Vec<String>,
        service: &str,
        log: Option<PathBuf>,
        tls: ClientTlsConfig,
    ) -> Result<Self, StartError> {
        let mut process = Self::stopped(binary, addr, args, log);
        process.tls = Some(tls);
        process.launch(service).await
    }

    /// The process as configured, not yet started.
    fn stopped(binary: &Path, addr: SocketAddr, args: Vec<String>, log: Option<PathBuf>) -> Self {
        Self {
            name: binary
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            addr,
            child: None,
            binary: binary.to_path_buf(),
            args,
            envs: Vec::new(),
            log,
            tls: None,
        }
    }

    async fn launch(mut self, service: &str) -> Result<Self, StartError> {
        // A server already on the address (another exportcontrol-up) would
        // answer the health checks for this one, which fails to bind: the
        // start would say "ready" for a service that is not running. (Asked
        // by connecting, not by binding: see test_support::ports.)
        if test_support::ports::listening(self.addr) {
            return Err(StartError(format!(
                "cannot start {} on {}: the address is in use (another exportcontrol-up, or \
                 another server, listens there)",
                self.name, self.addr
            )));
        }
        self.spawn()?;
        self.wait_healthy(service, Duration::from_secs(20)).await?;
        Ok(self)
    }

    fn spawn(&mut self) -> Result<(), StartError> {
        let mut command = test_support::service_command(&self.binary);
        command
            .arg("--listen")
            .arg(self.addr.to_string())
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        if let Some(log) = &self.log {
            let open = || {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .map_err(|e| StartError(format!("log {}: {e}", log.display())))
            };
            command.stdout(open()?).stderr(open()?);
        }
        let child = command.spawn().map_err(|e| {
            StartError(format!(
                "cannot start {}: {e} (build it first: cargo build --bins)",
                self.binary.display()
            ))
        })?;
        self.child = Some(child);
        Ok(())
    }

    /// Polls the health service until SERVING, the process exits, or the timeout.
    pub async fn wait_healthy(
        &mut self,
        service: &str,
        timeout: Duration,
    ) -> Result<(), StartError> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(StartError(format!(
                        "{} exited during start: {status}",
                        self.name
                    )));
                }
            }
            if health(self.addr, service, self.tls.clone()).await == Some(ServingStatus::Serving) {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(StartError(format!(
                    "{} not healthy after {timeout:?}",
                    self.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no chance to flush or drain.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for a graceful exit; Ok when it exited 0.
    /// Async so that the caller's runtime keeps running its own connections
    /// (an open client connection would hold the server's drain).
    pub async fn terminate(&mut self, timeout: Duration) -> Result<(), String> {
        self.stop_with("-TERM", timeout).await
    }

    /// SIGINT (Ctrl-C in a terminal), then as [`Self::terminate`].
    pub async fn interrupt(&mut self, timeout: Duration) -> Result<(), String> {
        self.stop_with("-INT", timeout).await
    }

    async fn stop_with(&mut self, signal: &str, timeout: Duration) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Err(format!("{} was not running", self.name));
        };
        let _ = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status();
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(status)) = child.try_wait() {
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "{} exited with {status}; log:\n{}",
                        self.name,
                        self.log_tail()
                    ))
                };
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!(
            "{} did not stop within {timeout:?}; log:\n{}",
            self.name,
            self.log_tail()
        ))
    }

    /// The last lines the process wrote, for failure messages.
    pub fn log_tail(&self) -> String {
        let Some(log) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Starts the same binary again with the same arguments and address.
    pub async fn restart(&mut self, service: &str) -> Result<(), StartError> {
        self.kill();
        self.spawn()?;
        self.wait_healthy(service, Duration::from_secs(20)).await
    }

    pub fn url(&self) -> String {
        match self.tls {
            // Certificates name "localhost", not the loopback address.
            Some(_) => format!("https://localhost:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// classifier-svc on `addr`, logging to `data/classifier.log`, with no
/// shutdown grace.
pub async fn start_classifier(addr: SocketAddr, data: &Path) -> ServiceProcess {
    start_classifier_with(addr, data, Vec::new()).await
}

/// Like `start_classifier`, with `extra` flags.
pub async fn start_classifier_with(
    addr: SocketAddr,
    data: &Path,
    extra: Vec<String>,
) -> ServiceProcess {
    let mut args = vec!["--shutdown-grace-ms".to_owned(), "0".to_owned()];
    args.extend(extra);
    ServiceProcess::start(
        &binary("classifier-svc"),
        addr,
        args,
        Vec::new(),
        CLASSIFIER_SERVICE,
        Some(data.join("classifier.log")),
    )
    .await
    .expect("classifier-svc starts")
}

/// review-svc on a free port, its data in `data` and its log in
/// `data/{log}`, asking the classifier at `classifier_url`: with the
/// development tokens unless `extra` names a `--tokens-file`, pending
/// classifications retried every 100 ms and no shutdown grace. `extra`
/// adds flags (database, day length, sweep interval, ...), `envs`
/// environment variables.
pub async fn start_review(
    data: &Path,
    log: &str,
    classifier_url: &str,
    extra: Vec<String>,
    envs: Vec<(String, String)>,
) -> ServiceProcess {
    let mut args = vec![
        "--data-dir".into(),
        data.display().to_string(),
        "--classifier-url".into(),
        classifier_url.to_owned(),
        "--classifier-retry-interval-ms".into(),
        "100".into(),
        "--shutdown-grace-ms".into(),
        "0".into(),
    ];
    if !extra.iter().any(|arg| arg == "--tokens-file") {
        args.push("--dev".into());
    }
    args.extend(extra);
    ServiceProcess::start(
        &binary("review-svc"),
        free_port().unwrap(),
        args,
        envs,
        REVIEW_SERVICE,
        Some(data.join(log)),
    )
    .await
    .expect("review-svc starts")
}

/// classifier-svc and review-svc (see `start_review`: its log is
/// `data/review.log`, `extra` its further flags), both keeping their data
/// in `data`.
pub async fn start_both(data: &Path, extra: Vec<String>) -> (ServiceProcess, ServiceProcess) {
    let classifier = start_classifier(free_port().expect("a free port"), data).await;
    let review = start_review(data, "review.log", &classifier.url(), extra, Vec::new()).await;
    (classifier, review)
}

/// The health status of `service` at `addr`, or None when unreachable
/// within 500 ms.
pub async fn health(
    addr: SocketAddr,
    service: &str,
    tls: Option<ClientTlsConfig>,
) -> Option<ServingStatus> {
    health_within(addr, service, tls, Duration::from_millis(500)).await
}

/// Like `health`, with the patience given (a busy machine needs more).
pub async fn health_within(
    addr: SocketAddr,
    service: &str,
    tls: Option<ClientTlsConfig>,
    patience: Duration,
) -> Option<ServingStatus> {
    let url = match tls {
        Some(_) => format!("https://localhost:{}", addr.port()),
        None => format!("http://{addr}"),
    };
    let mut endpoint = tonic::transport::Endpoint::from_shared(url)
        .ok()?
        .connect_timeout(patience)
        .timeout(patience);
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).ok()?;
    }
    let channel = endpoint.connect().await.ok()?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .ok()?;
    ServingStatus::try_from(response.into_inner().status).ok()
}

/// A request carrying `token` as its bearer token, with a 10 s deadline.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request.set_timeout(Duration::from_secs(10));
    request
}

/// GetApplication of `name` as `token`; a refusal fails the test with its
/// status.
pub async fn get_application(
    client: &mut exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient<
        tonic::transport::Channel,
    >,
    name: &str,
    token: &str,
) -> exportcontrol_proto::review::v1::Application {
    client
        .get_application(authed(
            exportcontrol_proto::review::v1::GetApplicationRequest {
                name: name.to_owned(),
            },
            token,
        ))
        .await
        .unwrap_or_else(|status| panic!("GetApplication {name}: {status:?}"))
        .into_inner()
}

/// What a call answered; a refusal fails the test, naming the call.
fn answered<T>(call: &str, result: Result<tonic::Response<T>, tonic::Status>) -> T {
    match result {
        Ok(response) => response.into_inner(),
        Err(status) => panic!("{call}: {status:?}"),
    }
}

/// GetLicense of `name` as `token`; a refusal fails the test with its
/// status.
pub async fn get_license(
    licenses: &mut LicenseClient,
    name: &str,
    token: &str,
) -> exportcontrol_proto::review::v1::License {
    let request = authed(
        exportcontrol_proto::review::v1::GetLicenseRequest {
            name: name.to_owned(),
        },
        token,
    );
    answered(
        &format!("GetLicense {name}"),
        licenses.get_license(request).await,
    )
}

pub use test_support::filings::{
    appeal_request, decision_request, recommendation_request, withdrawal_request,
};

/// The question of the day as an application: `quantity` H200s from the
/// U.S. to a Chinese cloud company, with a fresh request id.
pub fn h200_to_china(quantity: u64) -> exportcontrol_proto::review::v1::CreateApplicationRequest {
    test_support::filings::h200_to("CN", quantity)
}

/// A licence for `quantity` H200s to China, ready to ship against: filed
/// by dev-applicant, recommended by the four agencies, approved by the
/// licensing officer, with the U.S. domestic shipments the aggregate-TPP
/// cap needs for all of it.
pub async fn licensed(
    channel: &tonic::transport::Channel,
    quantity: u64,
) -> exportcontrol_proto::review::v1::License {
    let mut review = ReviewClient::new(channel.clone());
    let app = answered(
        "CreateApplication",
        review
            .create_application(authed(h200_to_china(quantity), "dev-applicant"))
            .await,
    );
    let app = test_support::review::approve(&mut review, app, Duration::from_secs(10))
        .await
        .expect("approved");
    let mut licenses = LicenseClient::new(channel.clone());
    let license = get_license(&mut licenses, &app.license, "dev-applicant").await;
    let domestic = test_support::filings::domestic_shipment_request(
        &license.name,
        4 * quantity,
        0,
        test_support::filings::now_timestamp(),
    );
    answered(
        "RecordDomesticShipment",
        licenses
            .record_domestic_shipment(authed(domestic, "dev-applicant"))
            .await,
    );
    license
}

// ---------------------------------------------------------------------------
// What the system tests ask of a running review-svc, written once.
// ---------------------------------------------------------------------------

pub type ReviewClient = exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient<
    tonic::transport::Channel,
>;

/// Straight to the terminal: the test harness captures print! but not this.
pub fn report(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Errors a killed or restarting server produces: the same request is sent
/// again.
pub fn transient(code: tonic::Code) -> bool {
    use tonic::Code;
    matches!(
        code,
        Code::Unavailable
            | Code::Unknown
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Internal
    )
}

/// A channel to `process` that reconnects by itself after the server comes
/// back.
pub fn reconnecting_channel(process: &ServiceProcess) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(process.url())
        .expect("a service URL")
        .connect_timeout(Duration::from_millis(300))
        .connect_lazy()
}

/// The URL of a SQLite database `review.db` in `data`.
pub fn sqlite_url(data: &Path) -> String {
    format!("sqlite://{}", data.join("review.db").display())
}

/// VerifyAuditTrail of `name` (an application, or "applications/-" for
/// all) as `token`; a refusal fails the test with its status.
pub async fn verify_audit_trail(
    client: &mut ReviewClient,
    name: &str,
    token: &str,
) -> exportcontrol_proto::review::v1::VerifyAuditTrailResponse {
    let request = exportcontrol_proto::review::v1::VerifyAuditTrailRequest {
        name: name.to_owned(),
        ..Default::default()
    };
    answered(
        &format!("VerifyAuditTrail {name}"),
        client.verify_audit_trail(authed(request, token)).await,
    )
}

pub type LicenseClient =
    exportcontrol_proto::review::v1::license_service_client::LicenseServiceClient<
        tonic::transport::Channel,
    >;

/// Every item of a paged list, page after page, as `token`; a refusal
/// fails the test.
pub async fn every_page<R: test_support::paging::Paged>(
    client: &R::Client,
    request: R,
    token: &str,
) -> Vec<R::Item> {
    test_support::paging::every_page(client, request, |page| authed(page, token)).await
}

/// Every event of application `parent` as `token`, oldest first.
pub async fn all_events(
    client: &ReviewClient,
    parent: &str,
    token: &str,
) -> Vec<exportcontrol_proto::review::v1::ApplicationEvent> {
    let request = exportcontrol_proto::review::v1::ListApplicationEventsRequest {
        parent: parent.to_owned(),
        page_size: 1000,
        ..Default::default()
    };
    every_page(client, request, token).await
}
