//! Starts a gRPC server the way both services need it: reflection v1 and
//! v1alpha (with the error-detail and health descriptors, so grpcurl prints
//! details as JSON), the standard health service, per-connection concurrency
//! limits with load shedding, message size limits, connection limits
//! (handshake and idle timeouts, connections per peer), details on every
//! refusal, and a graceful shutdown that first reports NOT_SERVING, then
//! drains.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::{Server, ServerTlsConfig};
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::connection::ConnectionLimits;
use crate::metrics::{Registry, RpcMetricsLayer};
use crate::refusals::RefusalLayer;

/// Bytes a client may send on one stream before the server has read them.
const STREAM_WINDOW: u32 = 64 * 1024;
/// Bytes a client may send on one connection before the server has read them.
const CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;

/// Limits and behaviour shared by both servers; each binary fills it from flags.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Largest request or response message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Requests handled at once on one connection; beyond it, new requests are
    /// shed at once with RESOURCE_EXHAUSTED instead of queueing.
    pub concurrency_per_connection: usize,
    /// HTTP/2 streams a client may open at once on one connection.
    pub max_concurrent_streams: u32,
    /// A connection that has not completed the HTTP/2 handshake (preface
    /// and SETTINGS) by then is closed.
    pub handshake_timeout: Duration,
    /// A connection with no request in flight for this long is closed
    /// (None: never).
    pub idle_timeout: Option<Duration>,
    /// Connections one IP address may hold at once (0: no bound).
    pub max_connections_per_peer: usize,
    /// How long the server keeps answering with health NOT_SERVING before it
    /// stops accepting, so load balancers can move traffic away.
    pub shutdown_grace: Duration,
    /// Optional TLS (and client authentication when the config asks for it).
    pub tls: Option<ServerTlsConfig>,
    /// Where RPC counts and latencies go (served only with --metrics-listen).
    pub metrics: Arc<Registry>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            concurrency_per_connection: 256,
            max_concurrent_streams: 512,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(300)),
            max_connections_per_peer: 256,
            shutdown_grace: Duration::from_millis(0),
            tls: None,
            metrics: Registry::new(),
        }
    }
}

/// Answers the plain HTTP requests a server with a web front serves beside
/// gRPC (pages, their assets): `Some(response)` for a request it serves,
/// `None` to pass it on to gRPC. Called before any RPC layer, so pages are
/// neither counted as RPCs nor limited as they are.
pub type PageHandler =
    Arc<dyn Fn(&http::Request<Body>) -> Option<http::Response<Body>> + Send + Sync>;

/// A running server.
pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub health: HealthReporter,
    service_name: &'static str,
    grace: Duration,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// Serves `service` on `listener` with health and reflection beside it.
/// `descriptor_sets` are the encoded file descriptor sets the service's
/// messages come from.
pub async fn spawn<S>(
    listener: TcpListener,
    service: S,
    descriptor_sets: &[&'static [u8]],
    options: ServeOptions,
) -> Result<RunningServer, ServeError>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    spawn_inner(listener, service, None::<S>, descriptor_sets, options, None).await
}

/// [`spawn`] with a second service on the same server (e.g. a service
/// about another resource of the same API). Health, metrics and the error
/// domain are named after the first.
pub async fn spawn_with<S, T>(
    listener: TcpListener,
    service: S,
    second: Option<T>,
    descriptor_sets: &[&'static [u8]],
    options: ServeOptions,
) -> Result<RunningServer, ServeError>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    T: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    T::Future: Send + 'static,
{
    spawn_inner(listener, service, second, descriptor_sets, options, None).await
}

/// As [`spawn_with`], and also for browsers on the same address: HTTP/1.1
/// is accepted beside HTTP/2, gRPC-Web requests are translated to gRPC (and
/// pass every layer a gRPC request does), and `pages` answers the plain
/// HTTP requests it recognises. Same origin: no CORS.
pub async fn spawn_with_web<S, T>(
    listener: TcpListener,
    service: S,
    second: Option<T>,
    descriptor_sets: &[&'static [u8]],
    options: ServeOptions,
    pages: PageHandler,
) -> Result<RunningServer, ServeError>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    T: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    T::Future: Send + 'static,
{
    spawn_inner(
        listener,
        service,
        second,
        descriptor_sets,
        options,
        Some(pages),
    )
    .await
}

async fn spawn_inner<S, T>(
    listener: TcpListener,
    service: S,
    second: Option<T>,
    descriptor_sets: &[&'static [u8]],
    options: ServeOptions,
    pages: Option<PageHandler>,
) -> Result<RunningServer, ServeError>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    T: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    T::Future: Send + 'static,
{
    let local_addr = listener.local_addr().map_err(ServeError::Io)?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(S::NAME, ServingStatus::Serving)
        .await;
    health.set_service_status("", ServingStatus::Serving).await;

    let (reflection_v1, reflection_v1alpha) = reflection(descriptor_sets)?;
    let mut sets = vec![tonic_health::pb::FILE_DESCRIPTOR_SET];
    sets.extend_from_slice(descriptor_sets);
    options
        .metrics
        .add_methods(crate::metrics::methods_of(&sets).into_iter().chain([
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo".to_owned(),
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo".to_owned(),
        ]));

    // The per-connection concurrency limit and shedding are the refusal
    // layer's (tonic's own answer without details, outside any layer).
    let web = pages.is_some();
    let mut server = Server::builder()
        // Browsers speak HTTP/1.1 to a plain-text address; gRPC clients
        // still get HTTP/2 (by its preface) with the settings below.
        .accept_http1(web)
        // Flow control that pushes back instead of tripping h2's guard
        // against floods of small DATA frames: that guard allows unread
        // small frames worth half the connection window (in framing
        // overhead), and a stream may hold a stream window of them unread.
        // hyper's 1 MiB / 1 MiB let one stream of small messages, which a
        // slow reader stops consuming, end the whole connection with
        // GOAWAY ENHANCE_YOUR_CALM; a 64 KiB stream window under an 8 MiB
        // connection window keeps several such streams within the guard.
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_concurrent_streams(options.max_concurrent_streams)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        // Outermost, so that pages are not RPCs, and gRPC-Web calls are
        // gRPC calls to every layer within.
        .layer(tower::util::option_layer(pages.map(PagesLayer)))
        .layer(tower::util::option_layer(
            web.then(tonic_web::GrpcWebLayer::new),
        ))
        .layer(RpcMetricsLayer::new(Arc::clone(&options.metrics)))
        .layer(RefusalLayer::new(
            error_domain(S::NAME),
            options.max_message_bytes,
        ));
    if let Some(tls) = options.tls.clone() {
        server = server.tls_config(tls).map_err(ServeError::Tls)?;
    }
    let router = server
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .add_optional_service(second);

    let incoming = crate::connection::incoming(
        listener,
        ConnectionLimits {
            handshake_timeout: options.handshake_timeout,
            idle_timeout: options.idle_timeout,
            max_per_peer: options.max_connections_per_peer,
            concurrency_per_connection: options.concurrency_per_connection.max(1),
        },
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
        let _ = stopped.await;
    }));
    Ok(RunningServer {
        local_addr,
        health,
        service_name: S::NAME,
        grace: options.shutdown_grace,
        stop: Some(stop),
        task,
    })
}

/// Puts a [`PageHandler`] in front of the server's services.
#[derive(Clone)]
struct PagesLayer(PageHandler);

impl<S> tower::Layer<S> for PagesLayer {
    type Service = Pages<S>;

    fn layer(&self, inner: S) -> Pages<S> {
        Pages {
            inner,
            pages: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone)]
struct Pages<S> {
    inner: S,
    pages: PageHandler,
}

impl<S> tower::Service<http::Request<Body>> for Pages<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = futures::future::Either<
        std::future::Ready<Result<http::Response<Body>, S::Error>>,
        S::Future,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match (self.pages)(&request) {
            Some(page) => futures::future::Either::Left(std::future::ready(Ok(page))),
            None => futures::future::Either::Right(self.inner.call(request)),
        }
    }
}

/// `exportcontrol.review.v1.ReviewService` -> `review.exportcontrol`, the
/// domain of the service's own errors.
fn error_domain(service: &'static str) -> &'static str {
    match service.split('.').nth(1) {
        Some("review") => "review.exportcontrol",
        Some("classifier") => "classifier.exportcontrol",
        _ => service,
    }
}

fn reflection(
    descriptor_sets: &[&'static [u8]],
) -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    ServeError,
> {
    let builder = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        for set in descriptor_sets {
            builder = builder.register_encoded_file_descriptor_set(set);
        }
        builder
    };
    Ok((
        builder().build_v1().map_err(ServeError::Reflection)?,
        builder().build_v1alpha().map_err(ServeError::Reflection)?,
    ))
}

impl RunningServer {
    /// Reports NOT_SERVING, keeps answering for the grace period, then stops
    /// accepting and waits for the requests in flight to finish.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        self.health
            .set_service_status(self.service_name, ServingStatus::NotServing)
            .await;
        self.health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        if !self.grace.is_zero() {
            tokio::time::sleep(self.grace).await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result.map_err(ServeError::Transport),
            Err(join) => Err(ServeError::Io(std::io::Error::other(join))),
        }
    }

    /// Runs until SIGTERM or ctrl-c, then shuts down gracefully.
    pub async fn run_until_signal(self) -> Result<(), ServeError> {
        shutdown_signal().await;
        tracing::info!(grace = ?self.grace, "shutdown requested: reporting NOT_SERVING, then draining");
        self.shutdown().await
    }
}

/// Resolves on ctrl-c or SIGTERM. The SIGTERM handler is installed when
/// this is called, not when first polled: call it before serving, so that a
/// SIGTERM that arrives as soon as the server answers is a graceful stop,
/// not the default action (death).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let terminate = async move {
            match terminate {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = terminate => {},
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("i/o: {0}")]
    Io(std::io::Error),
    #[error("tls configuration: {0}")]
    Tls(tonic::transport::Error),
    #[error("transport: {0}")]
    Transport(tonic::transport::Error),
    #[error("reflection descriptors: {0}")]
    Reflection(tonic_reflection::server::Error),
}
