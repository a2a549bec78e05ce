//! Signed audit checkpoints through the gRPC API: who may read them, that
//! a client can check the signature itself, and that VerifyAuditTrail
//! given one detects a history rewritten consistently inside the database,
//! which the chains alone do not.

use std::sync::Arc;

use super::{authed, create, h200_to, Client};

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use review_svc::audit::Checkpoint;
use review_svc::auth::Authenticator;
use review_svc::classifier_client::{ClassifierClient, RetryPolicy};
use review_svc::store::chain::event_hash;
use review_svc::ReviewSettings;
use service_kit::server::ServeOptions;
use sqlx::{Connection, Row};
use tokio::net::TcpListener;
use tonic::Code;
use tonic_types::StatusExt;

async fn verify(
    client: &mut Client,
    checkpoint: Option<pb::AuditCheckpoint>,
) -> pb::VerifyAuditTrailResponse {
    let request = pb::VerifyAuditTrailRequest {
        name: "applications/-".into(),
        checkpoint,
    };
    client
        .verify_audit_trail(authed(request, "dev-auditor"))
        .await
        .expect("verify")
        .into_inner()
}

/// Rewrites the second event of `application` and re-hashes the rest of
/// its chain and its row's head, as someone with write access to the
/// database could.
async fn rewrite_consistently(db: &std::path::Path, application: &str) {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("open the database");
    sqlx::raw_sql("DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete")
        .execute(&mut conn)
        .await
        .expect("lift the append-only guard");
    let rows = sqlx::query(
        "SELECT sequence, application_sequence, kind, actor, at, details, hash \
         FROM events WHERE application_id = ? ORDER BY application_sequence",
    )
    .bind(application)
    .fetch_all(&mut conn)
    .await
    .expect("events");
    assert!(rows.len() >= 2, "{} events", rows.len());
    let mut previous: String = rows[0].get(6);
    for row in &rows[1..] {
        let sequence: i64 = row.get(0);
        let application_sequence: i64 = row.get(1);
        let mut details: String = row.get(5);
        if application_sequence == 2 {
            // Any change of content will do; the details are opaque here.
            details.push(' ');
        }
        let hash = event_hash(
            &previous,
            application,
            application_sequence,
            row.get(2),
            row.get(3),
            row.get(4),
            &details,
        );
        sqlx::query(
            "UPDATE events SET details = ?, previous_hash = ?, hash = ? WHERE sequence = ?",
        )
        .bind(&details)
        .bind(&previous)
        .bind(&hash)
        .bind(sequence)
        .execute(&mut conn)
        .await
        .expect("rewrite an event");
        previous = hash;
    }
    sqlx::query("UPDATE applications SET chain_head = ? WHERE id = ?")
        .bind(&previous)
        .bind(application)
        .execute(&mut conn)
        .await
        .expect("rewrite the head");
    let _ = conn.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_checkpoint_detects_a_consistently_rewritten_history() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("review.db");
    let classifier = classifier_svc::serve(
        TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        ServeOptions::default(),
    )
    .await
    .expect("classifier-svc starts");
    let settings = ReviewSettings {
        database_url: format!("sqlite://{}", db.display()),
        classifier: ClassifierClient::connect_lazy(
            &format!("http://{}", classifier.local_addr),
            None,
            RetryPolicy::default(),
        )
        .expect("classifier URL"),
        authenticator: Authenticator::development().0,
        day_length: chrono::Duration::days(1),
        sweep_interval: std::time::Duration::from_millis(50),
        classification_retry_interval: std::time::Duration::from_millis(50),
        clock: Arc::new(review_svc::clock::SystemClock),
        audit_key_file: Some(dir.path().join("audit-key.pem")),
        max_watches_per_principal: review_svc::DEFAULT_MAX_WATCHES_PER_PRINCIPAL,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let review = review_svc::serve(listener, settings, ServeOptions::default())
        .await
        .expect("review-svc starts");
    let mut client = ReviewServiceClient::connect(format!("http://{}", review.server.local_addr))
        .await
        .expect("connect");

    let app = create(&mut client, "dev-applicant", h200_to("CN", 10)).await;
    let id = app.name.trim_start_matches("applications/").to_owned();

    // Applicants may not read checkpoints; the auditor may.
    let refused = client
        .get_audit_checkpoint(authed(
            pb::GetAuditCheckpointRequest::default(),
            "dev-applicant",
        ))
        .await
        .expect_err("applicants are refused");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let checkpoint = client
        .get_audit_checkpoint(authed(
            pb::GetAuditCheckpointRequest { fresh: true },
            "dev-auditor",
        ))
        .await
        .expect("checkpoint")
        .into_inner();
    assert!(checkpoint.sequence >= 2, "{checkpoint:?}");

    // The client can check the signature itself.
    let time = checkpoint.create_time.expect("create_time");
    let made_at = time.seconds * 1000 + i64::from(time.nanos / 1_000_000);
    let key =
        VerifyingKey::from_bytes(&checkpoint.public_key.clone().try_into().expect("32 bytes"))
            .expect("a public key");
    let signature = Signature::from_slice(&checkpoint.signature).expect("64 bytes");
    key.verify(
        &Checkpoint::signed_bytes(checkpoint.sequence, &checkpoint.digest, made_at),
        &signature,
    )
    .expect("the signature verifies");

    let intact = verify(&mut client, Some(checkpoint.clone())).await;
    assert!(intact.intact, "{intact:?}");
    assert_eq!(intact.checkpoint_sequence, checkpoint.sequence);

    rewrite_consistently(&db, &id).await;
    // The chains verify: the rewrite was consistent...
    let chains = verify(&mut client, None).await;
    assert!(chains.intact, "{chains:?}");
    // ...but not against the checkpoint.
    let broken = verify(&mut client, Some(checkpoint.clone())).await;
    assert!(!broken.intact, "{broken:?}");
    assert!(broken.detail.contains("checkpoint"), "{broken:?}");

    // A checkpoint whose digest was made to match is not the service's.
    let mut forged = checkpoint.clone();
    forged.digest = "0".repeat(64);
    let status = client
        .verify_audit_trail(authed(
            pb::VerifyAuditTrailRequest {
                name: "applications/-".into(),
                checkpoint: Some(forged),
            },
            "dev-auditor",
        ))
        .await
        .expect_err("a forged checkpoint is refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status
            .get_error_details()
            .error_info()
            .map(|i| i.reason.as_str()),
        Some("CHECKPOINT_NOT_SIGNED_BY_SERVICE")
    );

    review.shutdown().await.expect("shutdown");
    classifier.shutdown().await.expect("shutdown");
}
