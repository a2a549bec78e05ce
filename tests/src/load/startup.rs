//! Start-up to healthy: spawns a service, polls its gRPC health service
//! every millisecond or two, and leaves it running (its pid is reported so
//! the caller can stop it).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use system_tests::health;
use tonic_health::pb::health_check_response::ServingStatus;

use super::round;

pub async fn start(
    command: &[String],
    addr: SocketAddr,
    service: &str,
    log: Option<&Path>,
    timeout: Duration,
) -> Result<Value, String> {
    let (program, args) = command
        .split_first()
        .ok_or("startup needs the command to run after --")?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    if let Some(log) = log {
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| format!("{}: {e}", log.display()))
        };
        cmd.stdout(open()?).stderr(open()?);
    }
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let mut polls = 0u64;
    loop {
        polls += 1;
        if health(addr, service, None).await == Some(ServingStatus::Serving) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{program} exited during start: {status}"));
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{program} not healthy after {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    Ok(json!({
        "startup_ms": round(elapsed.as_secs_f64() * 1000.0, 1),
        "pid": child.id(),
        "health_polls": polls,
        "command": command.join(" "),
    }))
}
