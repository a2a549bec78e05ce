//! Health and graceful shutdown.

use crate::support::*;

/// Long enough for the checks below to land inside it on a busy machine.
const GRACE: Duration = Duration::from_millis(500);

#[tokio::test]
async fn health_reports_not_serving_during_the_grace_period() {
    let app = spawn_with(ServeOptions {
        shutdown_grace: GRACE,
        ..ServeOptions::default()
    })
    .await;
    assert_eq!(app.health_status("").await, ServingStatus::Serving);
    assert_eq!(app.health_status(SERVICE).await, ServingStatus::Serving);
    let unknown = app
        .health()
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(unknown.code(), Code::NotFound);

    let TestServer { server, channel } = app;
    let addr = server.local_addr;
    let started = std::time::Instant::now();
    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut health = HealthClient::new(channel.clone());
    for service in ["", SERVICE] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("still answering during the grace period")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::NotServing as i32, "{service:?}");
    }
    // Lame duck: requests are still answered while load balancers move away.
    ClassifierServiceClient::new(channel.clone())
        .classify_item(catalogue("H200", None, "2026-02-01"))
        .await
        .expect("answered during the grace period");
    drop(health);
    drop(channel);

    timeout(LIMIT, shutdown)
        .await
        .expect("server stops in time")
        .expect("shutdown task")
        .expect("clean shutdown");
    assert!(started.elapsed() >= GRACE, "the grace period was kept");

    // Stopped: a new connection is refused.
    let refused = Endpoint::from_shared(format!("http://{addr}"))
        .expect("valid address")
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await;
    assert!(refused.is_err(), "server still accepting after shutdown");
}

#[tokio::test]
async fn shutdown_completes_while_a_client_stays_connected() {
    let app = spawn().await;
    app.client()
        .classify_item(catalogue("H200", None, "2026-02-01"))
        .await
        .expect("answered");
    let TestServer { server, channel } = app;
    // The client keeps its connection open: the server must still stop.
    timeout(LIMIT, server.shutdown())
        .await
        .expect("server stops in time with a client connected")
        .expect("clean shutdown");
    let after = ClassifierServiceClient::new(channel)
        .classify_item(catalogue("H200", None, "2026-02-01"))
        .await
        .expect_err("no answer after shutdown");
    assert_eq!(after.code(), Code::Unavailable, "{after:?}");
}
