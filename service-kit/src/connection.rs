//! What a connection may cost the server: it must complete the HTTP/2
//! handshake (the client preface and its first SETTINGS frame) within a
//! few seconds, it is closed after a configurable time without a request in
//! flight, and one peer (IP address) may hold only so many at once.
//!
//! The accepted TCP stream is wrapped in [`GuardedIo`], which watches the
//! bytes read for the handshake and a timer for idleness, and ends the
//! connection with a read error (hyper then closes it). Each request finds
//! its connection's [`ConnectionState`] in its extensions ([`ConnInfo`]):
//! the per-connection concurrency limit and the in-flight count live there.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

use crate::quota::{Quota, Slot};

/// The client preface (24 bytes) and a SETTINGS frame header (9 bytes).
const HANDSHAKE_BYTES: usize = 24 + 9;

/// Limits on connections, from the server's flags.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// A connection that has not sent the HTTP/2 preface and SETTINGS by
    /// then is closed.
    pub handshake_timeout: Duration,
    /// A connection without a request in flight for this long is closed
    /// (None: never).
    pub idle_timeout: Option<Duration>,
    /// Connections one IP address may hold open at once; more are closed
    /// at once (0: no bound).
    pub max_per_peer: usize,
    /// Requests handled at once on one connection.
    pub concurrency_per_connection: usize,
}

/// What the requests of one connection share.
#[derive(Debug)]
pub struct ConnectionState {
    /// Handlers in progress (released when the response headers are ready).
    pub slots: Arc<Semaphore>,
    /// How many slots there are.
    pub concurrency: usize,
    /// Requests in flight, streams included until their last frame.
    in_flight: AtomicUsize,
    /// When the last request ended (milliseconds since `epoch`).
    idle_since_ms: AtomicUsize,
    epoch: Instant,
}

impl ConnectionState {
    fn new(concurrency: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    /// Marks a request in flight until the guard is dropped.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(self))
    }

    fn idle_since(&self) -> Option<Instant> {
        (self.in_flight.load(Ordering::SeqCst) == 0).then(|| {
            self.epoch + Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst) as u64)
        })
    }
}

/// A request in flight on a connection.
#[derive(Debug)]
pub struct InFlight(Arc<ConnectionState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let elapsed = self.0.epoch.elapsed().as_millis() as usize;
        self.0.idle_since_ms.store(elapsed, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The connection info tonic puts in every request's extensions.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote_addr: Option<SocketAddr>,
    pub local_addr: Option<SocketAddr>,
    pub state: Arc<ConnectionState>,
}

impl ConnInfo {
    /// The connection of a request, over plain TCP or TLS.
    pub fn of<B>(request: &http::Request<B>) -> Option<&ConnInfo> {
        let extensions = request.extensions();
        extensions.get::<ConnInfo>().or_else(|| {
            extensions
                .get::<tonic::transport::server::TlsConnectInfo<ConnInfo>>()
                .map(|tls| tls.get_ref())
        })
    }
}

/// An accepted TCP connection, watched for the handshake and for idleness.
pub struct GuardedIo {
    io: TcpStream,
    info: ConnInfo,
    /// Until the handshake is complete: bytes seen so far and the deadline.
    handshake: Option<(usize, Pin<Box<Sleep>>)>,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    _peer: Slot<IpAddr>,
}

impl GuardedIo {
    /// Ends reads with an error once a deadline has passed.
    fn poll_deadlines(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if let Some((_, deadline)) = &mut self.handshake {
            if deadline.as_mut().poll(cx).is_ready() {
                return Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "HTTP/2 handshake not completed in time",
                ));
            }
        }
        if let Some((timeout, timer)) = &mut self.idle {
            while timer.as_mut().poll(cx).is_ready() {
                match self.info.state.idle_since() {
                    Some(since) if since + *timeout <= Instant::now() => {
                        return Some(io::Error::new(io::ErrorKind::TimedOut, "idle connection"));
                    }
                    Some(since) => timer.as_mut().reset(since + *timeout),
                    None => timer.as_mut().reset(Instant::now() + *timeout),
                }
            }
        }
        None
    }
}

impl tonic::transport::server::Connected for GuardedIo {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(error) = this.poll_deadlines(cx) {
            return Poll::Ready(Err(error));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some((seen, _))) = (&result, &mut this.handshake) {
            *seen += buf.filled().len() - before;
            if *seen >= HANDSHAKE_BYTES {
                this.handshake = None;
            }
        }
        result
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The connections accepted on `listener`, guarded by `limits`. A peer
/// over its bound has its new connection closed at once.
pub fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
) -> impl Stream<Item = io::Result<GuardedIo>> {
    let peers = Quota::new(limits.max_per_peer);
    futures::stream::unfold(
        (listener, limits, peers),
        |(listener, limits, peers)| async move {
            loop {
                let (io, remote) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => return Some((Err(error), (listener, limits, peers))),
                };
                let Some(peer) = peers.take(remote.ip()) else {
                    tracing::debug!(%remote, "connection refused: too many from this peer");
                    drop(io);
                    continue;
                };
                let _ = io.set_nodelay(true);
                let info = ConnInfo {
                    remote_addr: Some(remote),
                    local_addr: io.local_addr().ok(),
                    state: Arc::new(ConnectionState::new(limits.concurrency_per_connection)),
                };
                let now = Instant::now();
                let guarded = GuardedIo {
                    io,
                    info,
                    handshake: Some((
                        0,
                        Box::pin(tokio::time::sleep_until(now + limits.handshake_timeout)),
                    )),
                    idle: limits.idle_timeout.map(|timeout| {
                        (timeout, Box::pin(tokio::time::sleep_until(now + timeout)))
                    }),
                    _peer: peer,
                };
                return Some((Ok(guarded), (listener, limits, peers)));
            }
        },
    )
}
