//! What the workspace's test suites share.

pub mod filings;
pub mod fuzz;
pub mod paging;
pub mod ports;
pub mod postgres;
pub mod review;

/// A service binary as a command, without the test run's own settings.
pub fn service_command(binary: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(binary);
    for variable in postgres::TEST_RUN_VARIABLES {
        command.env_remove(variable);
    }
    command
}

/// The application version inside a review-svc etag. Clients treat etags
/// as opaque; the tests know their layout (base64url of the version, 8
/// bytes big-endian, then a MAC) to check versions against histories.
/// `-1` when `etag` has another form.
pub fn etag_version(etag: &str) -> i64 {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(etag)
        .ok()
        .and_then(|bytes| Some(i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?)))
        .unwrap_or(-1)
}
