//! The review console in a real browser: both services started as
//! processes on ephemeral ports, the H200 case filed through gRPC as a
//! service would file it, then headless Chromium (Debian's `chromium`,
//! driven by `review-svc/console/test/browser.mjs` through playwright-core
//! from the project's npm lock) clicks it through the ladder as each role
//! in turn, with a request for information and a hold on the way, up to the
//! President's decision and the licence it issues (a shipment, a refused
//! one, a suspension), has the applicant withdraw a second application
//! and the licensing officer return a third. The record is then checked
//! here through gRPC.
//!
//! Screenshots go to `$CONSOLE_SCREENSHOTS`, by default
//! `<target>/console-screenshots` (inbox.png, application.png,
//! president.png, decided.png, license.png, narrow.png).
//!
//! Without a browser (or Node.js, or the console built into review-svc) the
//! test says so and passes as skipped, unless `CONSOLE_BROWSER_REQUIRED=1`
//! (CI, which installs Chromium) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::license_service_client::LicenseServiceClient;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use system_tests::{
    authed, binary, every_page, get_application, get_license, h200_to_china, start_both,
    verify_audit_trail,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(move |dir| dir.join(name))
                .collect::<Vec<_>>()
        })
        .find(|path| path.is_file())
}

/// What is missing to run the browser test, if anything.
fn missing() -> Option<String> {
    if chromium().is_none() {
        return Some(
            "no Chromium found (install Debian's `chromium`: apt-get install -y chromium, or set CHROMIUM to its path)"
                .into(),
        );
    }
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !node_ok {
        return Some("no Node.js on the PATH".into());
    }
    if !root().join("node_modules/playwright-core").is_dir() {
        return Some("playwright-core is not installed: run `npm ci`".into());
    }
    if !review_svc::console::Console::built() {
        return Some(
            "the console is not built into review-svc: run `npm run build:console`, then build again"
                .into(),
        );
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_takes_the_h200_case_to_the_president_in_a_real_browser() {
    if let Some(what) = missing() {
        if std::env::var("CONSOLE_BROWSER_REQUIRED").as_deref() == Ok("1") {
            panic!("the browser test cannot run: {what}");
        }
        eprintln!("SKIPPED the console's browser test: {what}");
        return;
    }
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let (_classifier, review) = start_both(data.path(), Vec::new()).await;
    let mut client = ReviewServiceClient::connect(review.url()).await.unwrap();
    // Filed as a service would: through gRPC.
    let filed = client
        .create_application(authed(h200_to_china(5_000), "dev-applicant"))
        .await
        .expect("the H200 case is filed")
        .into_inner();
    assert_eq!(filed.state, pb::State::AgencyReview as i32);
    let to_withdraw = client
        .create_application(authed(h200_to_china(10), "dev-applicant"))
        .await
        .expect("a second application is filed")
        .into_inner();
    let to_return = client
        .create_application(authed(h200_to_china(20), "dev-applicant"))
        .await
        .expect("a third application is filed")
        .into_inner();

    // The auditor holds every watch it may, as if its pages were open
    // elsewhere: its page in the browser says live updates are paused.
    let mut held = Vec::new();
    for _ in 0..review_svc::DEFAULT_MAX_WATCHES_PER_PRINCIPAL {
        let watch = pb::WatchApplicationsRequest::default();
        let stream = client.watch_applications(authed(watch, "dev-auditor"));
        held.push(stream.await.expect("the auditor may watch"));
    }

    let screenshots = std::env::var_os("CONSOLE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            binary("review-svc")
                .parent()
                .and_then(Path::parent)
                .expect("the target directory")
                .join("console-screenshots")
        });
    let console_url = format!("{}/console/", review.url());
    let mut node = tokio::process::Command::new("node");
    node.arg(root().join("review-svc/console/test/browser.mjs"))
        .current_dir(root())
        .env("CONSOLE_URL", &console_url)
        .env("APPLICATION", &filed.name)
        .env("APPLICATION_2", &to_withdraw.name)
        .env("APPLICATION_3", &to_return.name)
        .env("WATCHES_TAKEN_BY", "dev-auditor")
        .env("CHROMIUM", chromium().unwrap())
        .env("SCREENSHOTS", &screenshots)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(240), node.output())
        .await
        .expect("the browser test finishes within 4 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}\nreview-svc log:\n{}",
        review.log_tail()
    );

    // What the clicks recorded, read back through gRPC.
    let app = get_application(&mut client, &filed.name, "dev-auditor").await;
    assert_eq!(app.state, pb::State::Decided as i32);
    let decision = app.decision.clone().unwrap();
    assert_eq!(decision.decided_by, "president");
    assert_eq!(decision.outcome, pb::Outcome::ApproveWithConditions as i32);
    let levels: Vec<i32> = app.decision_history.iter().map(|d| d.level).collect();
    assert_eq!(
        levels,
        [
            pb::ReviewLevel::OperatingCommittee as i32,
            pb::ReviewLevel::Acep as i32,
            pb::ReviewLevel::Earb as i32,
            pb::ReviewLevel::President as i32,
        ]
    );
    let recorders: Vec<&str> = app
        .recommendations
        .iter()
        .filter(|r| r.level == pb::ReviewLevel::Agency as i32)
        .map(|r| r.recorded_by.as_str())
        .collect();
    assert_eq!(recorders.len(), 4, "{recorders:?}");
    // The request for information (answered) and the officer's hold (released).
    let kinds: Vec<(i32, bool)> = app
        .holds
        .iter()
        .map(|h| (h.kind, h.release_time.is_some()))
        .collect();
    assert_eq!(
        kinds,
        [
            (pb::HoldKind::MissingInformation as i32, true),
            (pb::HoldKind::PreLicenseCheck as i32, true),
        ]
    );
    assert_eq!(app.holds[0].documents, ["EUS-2026-0117"]);
    // The licence: one export recorded through the page, then suspended.
    let mut licenses = LicenseServiceClient::connect(review.url()).await.unwrap();
    let license = get_license(&mut licenses, &app.license, "dev-auditor").await;
    assert_eq!(license.state, pb::LicenseState::Suspended as i32);
    assert_eq!(license.items[0].shipped_quantity, 1_000);
    let both_kinds = pb::ListShipmentsRequest {
        parent: license.name.clone(),
        ..Default::default()
    };
    let shipments = every_page(&licenses, both_kinds, "dev-auditor").await;
    let exports: Vec<_> = shipments
        .iter()
        .filter(|s| s.kind == pb::ShipmentKind::Export as i32)
        .collect();
    assert_eq!(shipments.len(), 2, "{shipments:?}");
    assert_eq!(exports.len(), 1, "{shipments:?}");
    assert_eq!(exports[0].attestations[0].reference, "LAB-2026-0042");
    let verified = verify_audit_trail(&mut client, &filed.name, "dev-auditor").await;
    assert!(verified.intact, "{verified:?}");
    let withdrawn = get_application(&mut client, &to_withdraw.name, "dev-auditor").await;
    assert_eq!(withdrawn.state, pb::State::Withdrawn as i32);
    let returned = get_application(&mut client, &to_return.name, "dev-auditor").await;
    assert_eq!(returned.state, pb::State::ReturnedWithoutAction as i32);
    assert!(
        returned.state_reason.ends_with("names no end user"),
        "{}",
        returned.state_reason
    );
    for shot in [
        "inbox.png",
        "application.png",
        "president.png",
        "decided.png",
        "license.png",
    ] {
        assert!(screenshots.join(shot).is_file(), "{shot} saved");
    }
    eprintln!(
        "browser test: {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        screenshots.display()
    );
}
