//! The tokens file is re-read on SIGHUP: a token revoked in the file stops
//! working in the running process, without a restart, in new calls and in
//! the streams it opened before.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use review_svc::auth::token_sha256;
use tonic::transport::Channel;
use tonic::{Code, Streaming};
use tonic_types::StatusExt;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tokens(role: &str, revoked: bool) -> String {
    format!(
        "[[principal]]\nid = \"auditor-1\"\nrole = \"{role}\"\ntoken_sha256 = \"{}\"\nrevoked = {revoked}\n",
        token_sha256("audit-secret")
    )
}

fn authed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", "Bearer audit-secret".parse().unwrap());
    request
}

async fn client(addr: std::net::SocketAddr) -> Result<ReviewServiceClient<Channel>, tonic::Status> {
    ReviewServiceClient::connect(format!("http://{addr}"))
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))
}

async fn list(addr: std::net::SocketAddr) -> Result<(), tonic::Status> {
    let request = authed(pb::ListApplicationsRequest::default());
    client(addr)
        .await?
        .list_applications(request)
        .await
        .map(|_| ())
}

/// A watch of every application's events, as the auditor.
async fn watch_all(
    addr: std::net::SocketAddr,
) -> Result<Streaming<pb::ApplicationEvent>, tonic::Status> {
    let request = authed(pb::WatchApplicationsRequest::default());
    let watch = client(addr).await?.watch_applications(request).await?;
    Ok(watch.into_inner())
}

/// How `watch` ends once the file is re-read: nothing is written meanwhile,
/// so it may deliver no event, only its end.
async fn end_of(watch: &mut Streaming<pb::ApplicationEvent>) -> tonic::Status {
    let next = tokio::time::timeout(Duration::from_secs(30), watch.message())
        .await
        .expect("the watch ends after SIGHUP");
    match next {
        Err(status) => status,
        Ok(event) => panic!("the watch goes on: {event:?}"),
    }
}

fn reread(child: &Killed, file: &std::path::Path, contents: &str) {
    std::fs::write(file, contents).unwrap();
    let pid = child.0.id().to_string();
    let hup = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(hup.success());
}

#[tokio::test]
async fn a_token_revoked_in_the_file_stops_working_after_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.toml");
    std::fs::write(&file, tokens("AUDITOR", false)).unwrap();
    let addr = test_support::ports::free_port().unwrap();
    let review = std::path::Path::new(env!("CARGO_BIN_EXE_review-svc"));
    let child = test_support::service_command(review)
        .args(["--listen", &addr.to_string(), "--shutdown-grace-ms", "0"])
        .arg("--tokens-file")
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("review-svc starts");
    let child = Killed(child);
    let started = Instant::now();
    loop {
        match list(addr).await {
            Ok(()) => break,
            Err(status) if status.code() == Code::Unavailable => {
                assert!(started.elapsed() < Duration::from_secs(20), "{status:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("the token is valid at start: {status:?}"),
        }
    }

    // The token now names an applicant, who may not read every
    // application's history: the watch the auditor opened ends.
    let mut watch = watch_all(addr).await.expect("the auditor watches");
    reread(&child, &file, &tokens("APPLICANT", false));
    let status = end_of(&mut watch).await;
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let info = status.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.reason, "NOT_YOUR_APPLICATION");

    // Revoked: the watch opened before ends, and new calls are refused.
    reread(&child, &file, &tokens("AUDITOR", false));
    // (Once the file is re-read: until then the applicant is refused.)
    let mut watch = loop {
        let refused = match watch_all(addr).await {
            Ok(mut watch) => {
                let first = Duration::from_millis(300);
                match tokio::time::timeout(first, watch.message()).await {
                    Err(_) => break watch,
                    Ok(ended) => format!("{ended:?}"),
                }
            }
            Err(status) => format!("{status:?}"),
        };
        assert!(started.elapsed() < Duration::from_secs(30), "{refused}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    reread(&child, &file, &tokens("AUDITOR", true));
    let status = end_of(&mut watch).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let info = status.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.reason, "TOKEN_REVOKED");
    let status = loop {
        match list(addr).await {
            Ok(()) => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "still accepted after SIGHUP"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let info = status.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.reason, "TOKEN_REVOKED");

    // A broken file leaves the principals in force, and the process up.
    reread(&child, &file, "not [ toml");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = list(addr).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}
