//! Writes a review-svc database with the event format of this release, as a
//! fixture for the versions that follow (they must keep reading and
//! verifying it byte for byte). Run once, by hand:
//!
//! ```sh
//! cargo build --workspace --bins
//! FIXTURE_OUT=review-svc/tests/fixtures/v1 cargo test -p system-tests --test make_v1_fixture -- --ignored --nocapture
//! ```
//!
//! It writes `review.db` (checkpointed, no WAL beside it) and, for every
//! application, the `GetApplication` and `ListApplicationEvents` answers as
//! encoded protobuf, so a later version can compare what it serves.

use std::path::PathBuf;
use std::time::Duration;

use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use prost::Message;
use system_tests::{authed, free_port, h200_to_china, start_classifier, start_review};
use tonic::transport::Channel;

async fn recommend(
    client: &mut ReviewServiceClient<Channel>,
    app: pb::Application,
    token: &str,
    agency: pb::Agency,
    recommendation: pb::Recommendation,
    conditions: &[&str],
) -> pb::Application {
    client
        .record_recommendation(authed(
            pb::RecordRecommendationRequest {
                name: app.name.clone(),
                etag: app.etag.clone(),
                request_id: uuid::Uuid::new_v4().to_string(),
                agency: agency as i32,
                recommendation: recommendation as i32,
                conditions: conditions.iter().map(|c| c.to_string()).collect(),
                rationale: format!(
                    "{} position: weighed security and trade",
                    agency.as_str_name()
                ),
            },
            token,
        ))
        .await
        .unwrap_or_else(|status| panic!("{token} recommends: {status:?}"))
        .into_inner()
}

async fn decide(
    client: &mut ReviewServiceClient<Channel>,
    app: pb::Application,
    token: &str,
    outcome: pb::Outcome,
    conditions: &[&str],
) -> pb::Application {
    client
        .decide_application(authed(
            pb::DecideApplicationRequest {
                name: app.name.clone(),
                etag: app.etag.clone(),
                request_id: uuid::Uuid::new_v4().to_string(),
                outcome: outcome as i32,
                conditions: conditions.iter().map(|c| c.to_string()).collect(),
                rationale: "decided on the full record".into(),
            },
            token,
        ))
        .await
        .unwrap_or_else(|status| panic!("{token} decides: {status:?}"))
        .into_inner()
}

async fn appeal(
    client: &mut ReviewServiceClient<Channel>,
    app: pb::Application,
    token: &str,
    agency: pb::Agency,
) -> pb::Application {
    client
        .appeal_application(authed(
            pb::AppealApplicationRequest {
                name: app.name.clone(),
                etag: app.etag.clone(),
                request_id: uuid::Uuid::new_v4().to_string(),
                agency: agency as i32,
                rationale: "the decision puts national security at risk".into(),
            },
            token,
        ))
        .await
        .unwrap_or_else(|status| panic!("{token} appeals: {status:?}"))
        .into_inner()
}

fn to(country: &str, quantity: u64) -> pb::CreateApplicationRequest {
    let mut request = h200_to_china(quantity);
    let filed = request.application.as_mut().unwrap();
    let route = filed.transaction.as_mut().unwrap().route.as_mut().unwrap();
    route.destination_country = country.into();
    route.end_user_headquarters_country = country.into();
    route.ultimate_parent_headquarters_country = country.into();
    request
}

#[tokio::test]
#[ignore = "writes the fixture of this release's format; run by hand"]
async fn make_v1_fixture() {
    use pb::Agency::*;
    use pb::Recommendation::*;
    let out = PathBuf::from(std::env::var("FIXTURE_OUT").expect("FIXTURE_OUT"));
    let out = if out.is_absolute() {
        out
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(out)
    };
    std::fs::create_dir_all(&out).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut names = Vec::new();

    // 1. A classifier nobody answers at: the filing is stored CLASSIFICATION_PENDING
    //    (and classified by the worker once the next start has a classifier).
    {
        let nowhere = format!("http://{}", free_port().unwrap());
        let review = start_review(data.path(), "review.log", &nowhere, vec![], vec![]).await;
        let mut client = ReviewServiceClient::connect(review.url()).await.unwrap();
        let mut request = h200_to_china(7);
        request.request_id = "0c7a1c1e-1111-4d6a-9a55-8a1f0e2b3c01".into();
        let mut request = authed(request, "dev-applicant-2");
        request.set_timeout(Duration::from_secs(2));
        let app = client
            .create_application(request)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(app.state, pb::State::ClassificationPending as i32);
        names.push(("classified_later", app.name));
        let mut review = review;
        review.terminate(Duration::from_secs(10)).await.unwrap();
    }

    let classifier = start_classifier(free_port().unwrap(), data.path()).await;
    // 2. Day-long days: the whole ladder, a consensus, a withdrawal, no licence.
    {
        let review =
            start_review(data.path(), "review.log", &classifier.url(), vec![], vec![]).await;
        let mut client = ReviewServiceClient::connect(review.url()).await.unwrap();

        let mut request = h200_to_china(5_000);
        request.request_id = "0c7a1c1e-2222-4d6a-9a55-8a1f0e2b3c02".into();
        let app = client
            .create_application(authed(request, "dev-applicant"))
            .await
            .unwrap()
            .into_inner();
        let app = recommend(&mut client, app, "dev-commerce", Commerce, Approve, &[]).await;
        let app = recommend(&mut client, app, "dev-state", State, Deny, &[]).await;
        let app = recommend(&mut client, app, "dev-defense", Defense, Deny, &[]).await;
        let app = recommend(
            &mut client,
            app,
            "dev-energy",
            Energy,
            ApproveWithConditions,
            &["No transfer to military end users"],
        )
        .await;
        let app = decide(
            &mut client,
            app,
            "dev-oc-chair",
            pb::Outcome::ApproveWithConditions,
            &["End-use check"],
        )
        .await;
        let app = appeal(&mut client, app, "dev-defense", Defense).await;
        let app = recommend(
            &mut client,
            app,
            "dev-acep-commerce",
            Commerce,
            Approve,
            &[],
        )
        .await;
        let app = recommend(&mut client, app, "dev-acep-state", State, Deny, &[]).await;
        let app = recommend(&mut client, app, "dev-acep-defense", Defense, Deny, &[]).await;
        let app = recommend(&mut client, app, "dev-acep-energy", Energy, Deny, &[]).await;
        let app = appeal(&mut client, app, "dev-acep-commerce", Commerce).await;
        let app = recommend(
            &mut client,
            app,
            "dev-earb-commerce",
            Commerce,
            Approve,
            &[],
        )
        .await;
        let app = recommend(&mut client, app, "dev-earb-state", State, Deny, &[]).await;
        let app = recommend(&mut client, app, "dev-earb-defense", Defense, Deny, &[]).await;
        let app = recommend(&mut client, app, "dev-earb-energy", Energy, Approve, &[]).await;
        let app = appeal(&mut client, app, "dev-earb-commerce", Commerce).await;
        let app = decide(
            &mut client,
            app,
            "dev-president",
            pb::Outcome::ApproveWithConditions,
            &["Quarterly reporting", "No remote access from D:5 countries"],
        )
        .await;
        assert_eq!(app.state, pb::State::Decided as i32);
        names.push(("president", app.name));

        let app = client
            .create_application(authed(to("SA", 200), "dev-applicant"))
            .await
            .unwrap()
            .into_inner();
        let app = recommend(&mut client, app, "dev-commerce", Commerce, Approve, &[]).await;
        let app = recommend(&mut client, app, "dev-state", State, Approve, &[]).await;
        let app = recommend(&mut client, app, "dev-defense", Defense, Approve, &[]).await;
        let app = recommend(
            &mut client,
            app,
            "dev-energy",
            Energy,
            ApproveWithConditions,
            &["Annual end-use report"],
        )
        .await;
        let app = decide(
            &mut client,
            app,
            "dev-officer",
            pb::Outcome::ApproveWithConditions,
            &["Annual end-use report"],
        )
        .await;
        assert_eq!(app.state, pb::State::Decided as i32);
        names.push(("consensus", app.name));

        let app = client
            .create_application(authed(to("DE", 40), "dev-applicant"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(app.state, pb::State::NoLicenseRequired as i32);
        names.push(("no_licence", app.name));

        let app = client
            .create_application(authed(h200_to_china(12), "dev-applicant-2"))
            .await
            .unwrap()
            .into_inner();
        let app = client
            .withdraw_application(authed(
                pb::WithdrawApplicationRequest {
                    name: app.name.clone(),
                    etag: app.etag.clone(),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    reason: "customer cancelled the order".into(),
                },
                "dev-applicant-2",
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(app.state, pb::State::Withdrawn as i32);
        names.push(("withdrawn", app.name));
        let mut review = review;
        review.terminate(Duration::from_secs(10)).await.unwrap();
    }

    // 3. Short days: deemed no objection, then referral to the President.
    {
        let review = start_review(
            data.path(),
            "review.log",
            &classifier.url(),
            vec![
                "--day-length-seconds".into(),
                "0.02".into(),
                "--sweep-interval-ms".into(),
                "20".into(),
            ],
            vec![],
        )
        .await;
        let mut client = ReviewServiceClient::connect(review.url()).await.unwrap();
        let app = client
            .create_application(authed(h200_to_china(3), "dev-applicant"))
            .await
            .unwrap()
            .into_inner();
        let app = recommend(&mut client, app, "dev-state", State, Approve, &[]).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let current = client
                .get_application(authed(
                    pb::GetApplicationRequest {
                        name: app.name.clone(),
                    },
                    "dev-auditor",
                ))
                .await
                .unwrap()
                .into_inner();
            if current.state == pb::State::PresidentialReview as i32 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{current:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        names.push(("deemed_then_president", app.name));
        let mut review = review;
        review.terminate(Duration::from_secs(10)).await.unwrap();
    }

    // Read everything back through the API, as the fixture's expectations.
    let review = start_review(data.path(), "review.log", &classifier.url(), vec![], vec![]).await;
    let mut client = ReviewServiceClient::connect(review.url()).await.unwrap();
    let mut index = String::new();
    for (label, name) in &names {
        let app = client
            .get_application(authed(
                pb::GetApplicationRequest { name: name.clone() },
                "dev-auditor",
            ))
            .await
            .unwrap()
            .into_inner();
        std::fs::write(
            out.join(format!("{label}.application.pb")),
            app.encode_to_vec(),
        )
        .unwrap();
        let events = client
            .list_application_events(authed(
                pb::ListApplicationEventsRequest {
                    parent: name.clone(),
                    page_size: 1000,
                    ..Default::default()
                },
                "dev-auditor",
            ))
            .await
            .unwrap()
            .into_inner();
        std::fs::write(
            out.join(format!("{label}.events.pb")),
            events.encode_to_vec(),
        )
        .unwrap();
        index.push_str(&format!("{label} {name} {}\n", events.events.len()));
    }
    let verified = client
        .verify_audit_trail(authed(
            pb::VerifyAuditTrailRequest {
                name: "applications/-".into(),
            },
            "dev-auditor",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(verified.intact, "{verified:?}");
    index.push_str(&format!(
        "verified applications={} events={}\n",
        verified.applications_checked, verified.events_checked
    ));
    let mut review = review;
    review.terminate(Duration::from_secs(10)).await.unwrap();
    std::fs::write(out.join("index.txt"), index).unwrap();
    std::fs::copy(data.path().join("review.db"), out.join("review.db")).unwrap();
    for suffix in ["-wal", "-shm"] {
        let side = data.path().join(format!("review.db{suffix}"));
        if let Ok(meta) = std::fs::metadata(&side) {
            assert!(
                suffix == "-shm" || meta.len() == 0,
                "{side:?} not checkpointed"
            );
        }
    }
}
