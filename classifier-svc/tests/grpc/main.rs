//! Integration tests for classifier-svc: each test starts the real server
//! (classifier, health and reflection) on `127.0.0.1:0` and talks to it with
//! a real tonic client over TCP, the way a caller or grpcurl would.
//!
//! One test binary; each module is one concern.

mod support;

mod bad_input;
mod catalogue;
mod classify;
mod contract_2026;
mod lifecycle;
mod limits;
mod memo;
mod reflection;
mod streaming;
