//! The tokens file is re-read on SIGHUP: a token revoked in the file stops
//! working in the running process, without a restart.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use review_svc::auth::token_sha256;
use tonic::Code;
use tonic_types::StatusExt;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tokens(revoked: bool) -> String {
    format!(
        "[[principal]]\nid = \"auditor-1\"\nrole = \"AUDITOR\"\ntoken_sha256 = \"{}\"\nrevoked = {revoked}\n",
        token_sha256("audit-secret")
    )
}

async fn list(addr: std::net::SocketAddr) -> Result<(), tonic::Status> {
    let mut client = ReviewServiceClient::connect(format!("http://{addr}"))
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(pb::ListApplicationsRequest::default());
    request
        .metadata_mut()
        .insert("authorization", "Bearer audit-secret".parse().unwrap());
    client.list_applications(request).await.map(|_| ())
}

#[tokio::test]
async fn a_token_revoked_in_the_file_stops_working_after_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.toml");
    std::fs::write(&file, tokens(false)).unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_review-svc"))
        .args(["--listen", &addr.to_string(), "--shutdown-grace-ms", "0"])
        .arg("--tokens-file")
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("REVIEW_TEST_DATABASE_URL")
        .env_remove("REVIEW_REQUIRE_POSTGRES")
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

    std::fs::write(&file, tokens(true)).unwrap();
    let pid = child.0.id().to_string();
    let hup = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(hup.success());
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
    std::fs::write(&file, "not [ toml").unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = list(addr).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}
