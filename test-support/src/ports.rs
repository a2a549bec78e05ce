//! Ports for servers a test starts as child processes.
//!
//! A port is free when no server listens on it. It is not found by
//! binding it: a process another test forks at that instant holds a copy
//! of every socket open in this one (close-on-exec closes them only at its
//! exec), so a listener opened to test a port, however briefly, can keep
//! it taken for the child that is to bind it ("Address already in use",
//! seen in CI). A port is tried by connecting to it instead, which holds
//! nothing on it. And it is chosen below the kernel's ephemeral range,
//! from which the test run's own connections take their local ports, and
//! never handed out twice in one test process.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

/// The lowest port handed out: above the well-known and most registered
/// services' ports.
const LOWEST: u16 = 20_000;

/// A free port on 127.0.0.1 (released again, so a child can bind it).
pub fn free_port() -> std::io::Result<SocketAddr> {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let ephemeral = ephemeral_start();
    if ephemeral <= LOWEST + 1_000 {
        // No room below the ephemeral range: as before.
        return TcpListener::bind("127.0.0.1:0")?.local_addr();
    }
    let span = ephemeral - LOWEST;
    let start = rand::rng().random_range(0..span);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    for offset in 0..span {
        let port = LOWEST + (start + offset) % span;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if !given.contains(&port) && !listening(addr) {
            given.insert(port);
            return Ok(addr);
        }
    }
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Whether a server listens on `addr` (it accepts a connection).
pub fn listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// The first port of the kernel's ephemeral range (Linux's default when
/// it cannot be read).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_below_the_ephemeral_range_and_never_given_twice() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(listening(taken.local_addr().unwrap()));
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap().port()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        let ephemeral = ephemeral_start();
        if ephemeral > LOWEST + 1_000 {
            assert!(
                ports.iter().all(|&p| (LOWEST..ephemeral).contains(&p)),
                "{ports:?}"
            );
        }
        for port in ports {
            TcpListener::bind(("127.0.0.1", port)).expect("still free");
        }
    }
}
