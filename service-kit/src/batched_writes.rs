//! A connection whose writes are gathered until a flush: one system call
//! for what HTTP/2 wrote since the last, on both ends of a connection
//! (the servers' accepted connections and review-svc's to the classifier).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A connection whose writes are gathered and sent at each flush, one
/// system call for everything HTTP/2 wrote since the last.
///
/// Why: h2 copies a DATA frame into its 16 KiB write buffer only below a
/// threshold (256 bytes when the socket takes vectored writes, 1 KiB when
/// not); a larger frame is written with a flush of its own, so every answer
/// of a few hundred bytes cost a `writev` (the BASIC ClassifyItem answer
/// took about two system calls a call where a health check took 0.85, and
/// the system call with loopback delivery was a third of its CPU). This
/// socket says it takes no vectored writes, so answers below 1 KiB go into
/// h2's buffer with the other streams' frames, and it keeps what h2 writes
/// in pieces (its buffer, then a larger frame) until the flush (tokio's
/// `BufWriter`), so a large frame still costs one system call, as with
/// vectored writes.
///
/// And the first flush of what is gathered yields once to the runtime
/// before it writes. hyper sends an answer's DATA, then waits for h2 to
/// take it into the connection's buffer before it sends the trailers
/// (`grpc-status`), so without the yield every unary answer went out in
/// two system calls, the second for 10 bytes. h2 wakes the answer's task
/// as it takes the DATA; yielding lets that task queue its trailers, and
/// the flush after carries both.
pub struct BatchedWrites<T> {
    io: tokio::io::BufWriter<T>,
    yielded: bool,
}

/// What is gathered before it goes out without waiting for a flush: h2's own
/// write buffer and one more frame of the default size.
const WRITE_BATCH_BYTES: usize = 32 * 1024;

impl<T: tokio::io::AsyncWrite> BatchedWrites<T> {
    pub fn new(io: T) -> Self {
        Self {
            io: tokio::io::BufWriter::with_capacity(WRITE_BATCH_BYTES, io),
            yielded: false,
        }
    }
}

impl<T: tonic::transport::server::Connected + tokio::io::AsyncWrite>
    tonic::transport::server::Connected for BatchedWrites<T>
{
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.get_ref().connect_info()
    }
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> tokio::io::AsyncRead
    for BatchedWrites<T>
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for BatchedWrites<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.yielded && !self.io.buffer().is_empty() {
            // Polled again once the tasks woken before it have run.
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    /// No: so that h2 copies frames under 1 KiB into its own buffer rather
    /// than hand them over one by one.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use tokio::io::AsyncWrite;

    use super::*;

    /// A socket that records each write it is given.
    #[derive(Default)]
    struct Sends(Vec<Vec<u8>>);

    impl AsyncWrite for Sends {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.0.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn write(io: &mut BatchedWrites<Sends>, cx: &mut Context<'_>, bytes: &[u8]) {
        let written = Pin::new(io).poll_write(cx, bytes);
        assert!(matches!(written, Poll::Ready(Ok(n)) if n == bytes.len()));
    }

    fn flush(io: &mut BatchedWrites<Sends>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(io).poll_flush(cx)
    }

    #[test]
    fn what_is_written_while_the_flush_yields_goes_out_in_the_same_send() {
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(Arc::clone(&wakes));
        let cx = &mut Context::from_waker(&waker);
        let io = &mut BatchedWrites::new(Sends::default());
        write(io, cx, b"headers and data");
        // The first flush yields, asking to be polled again…
        assert!(flush(io, cx).is_pending());
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
        assert!(io.io.get_ref().0.is_empty());
        // …by when the trailers are in.
        write(io, cx, b"trailers");
        assert!(matches!(flush(io, cx), Poll::Ready(Ok(()))));
        assert_eq!(
            io.io.get_ref().0,
            vec![b"headers and datatrailers".to_vec()]
        );
        // Nothing gathered: nothing to wait for.
        assert!(matches!(flush(io, cx), Poll::Ready(Ok(()))));
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
    }
}
