//! Client channels whose connections send as the servers' do: what HTTP/2
//! writes is gathered until a flush (see [`BatchedWrites`]), so the calls
//! in flight on one connection share their system calls.

use std::io;

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};

use crate::batched_writes::BatchedWrites;

/// A channel to `endpoint`, connecting on first use. TCP_NODELAY is set,
/// as the batching decides when to send; the endpoint's connect timeout,
/// TLS and HTTP/2 settings apply as with [`Endpoint::connect_lazy`].
pub fn connect_lazy(endpoint: &Endpoint) -> Channel {
    endpoint.connect_with_connector_lazy(tower::service_fn(|uri: Uri| async move {
        let (host, port) = host_and_port(&uri)?;
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok::<_, io::Error>(TokioIo::new(BatchedWrites::new(stream)))
    }))
}

/// The address to connect to: the URI's host (an IPv6 address without its
/// brackets) and its port, or the scheme's.
fn host_and_port(uri: &Uri) -> io::Result<(&str, u16)> {
    let host = uri
        .host()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{uri}: no host")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_the_uris_host_and_port_or_the_schemes() {
        let address = |uri: &str| {
            let uri: Uri = uri.parse().unwrap();
            host_and_port(&uri).map(|(h, p)| (h.to_owned(), p)).unwrap()
        };
        assert_eq!(
            address("http://127.0.0.1:50051"),
            ("127.0.0.1".into(), 50051)
        );
        assert_eq!(address("http://[::1]:7"), ("::1".into(), 7));
        assert_eq!(
            address("https://classifier.internal"),
            ("classifier.internal".into(), 443)
        );
        assert_eq!(address("http://classifier"), ("classifier".into(), 80));
    }
}
