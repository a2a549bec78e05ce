//! SIGKILL at random points while clients keep filing and recommending.

use super::*;

async fn crash_run(backend: &str, database_url: &str, data: &Path) {
    let seed = seed();
    report(format!(
        "crash[{backend}]: seed {seed} (CRASH_SEED={seed} replays the random pauses and choices)"
    ));
    let started = Instant::now();
    let deadline = started + RUN_BUDGET;
    let classifier = start_classifier(free_port().unwrap(), data).await;
    let mut review = start_review(
        data,
        "review.log",
        &classifier.url(),
        database_url,
        "86400",
        "50",
    )
    .await;
    let channel = channel(&review);
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));

    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let channel = channel.clone();
            let counters = Arc::clone(&counters);
            let stop = Arc::clone(&stop);
            let mut rng = StdRng::seed_from_u64(
                seed ^ (worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                while !stop.load(Relaxed) {
                    acknowledged.push(
                        file_and_recommend(
                            channel.clone(),
                            &mut rng,
                            Arc::clone(&counters),
                            deadline,
                        )
                        .await,
                    );
                }
                acknowledged
            })
        })
        .collect();

    // The killer: random pauses, so kills land before, during and after writes.
    let mut rng = StdRng::seed_from_u64(seed);
    let mut restart_time = Duration::ZERO;
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..600))).await;
        review.kill();
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
        let restarting = Instant::now();
        review.restart(REVIEW_SERVICE).await.unwrap_or_else(|e| {
            panic!(
                "review-svc restarts on the same data: {e}\n{}",
                review.log_tail()
            )
        });
        restart_time += restarting.elapsed();
    }
    stop.store(true, Relaxed);
    let mut acknowledged = Vec::new();
    for worker in workers {
        acknowledged.extend(worker.await.expect("worker finished"));
    }

    // Every acknowledged change exactly once, nothing else.
    let mut client = Client::new(channel.clone());
    let all = pb::ListApplicationsRequest {
        page_size: 1000,
        ..Default::default()
    };
    let stored = every_page(&client, all, "dev-officer").await;
    let stored_names: HashSet<&str> = stored.iter().map(|a| a.name.as_str()).collect();
    let acknowledged_names: HashSet<&str> = acknowledged.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        acknowledged_names.len(),
        acknowledged.len(),
        "two creates were answered with the same application"
    );
    assert_eq!(
        stored.len(),
        stored_names.len(),
        "ListApplications repeats an application"
    );
    assert_eq!(
        stored_names, acknowledged_names,
        "stored applications differ from the acknowledged ones (a retried create filed twice, or one was lost)"
    );
    let mut events_checked = 0;
    for ack in &acknowledged {
        let app = stored.iter().find(|a| a.name == ack.name).unwrap();
        let history = all_events(&client, &ack.name, "dev-auditor").await;
        events_checked += history.len();
        check_sequence(app, &history);
        for kind in ["ApplicationFiled", "ItemsClassified", "ReferredToAgencies"] {
            assert_eq!(
                count(&history, kind),
                1,
                "{}: {kind} not exactly once: {history:#?}",
                ack.name
            );
        }
        assert_eq!(
            count(&history, "RecommendationRecorded"),
            AGENCIES.len(),
            "{}: {history:#?}",
            ack.name
        );
        for (agency, recommendation, rationale) in &ack.recommendations {
            let recorded: Vec<_> = history
                .iter()
                .filter_map(|e| match e.payload.as_ref() {
                    Some(pb::application_event::Payload::RecommendationRecorded(r)) => {
                        r.recommendation.clone()
                    }
                    _ => None,
                })
                .filter(|r| r.rationale == *rationale)
                .collect();
            assert_eq!(
                recorded.len(),
                1,
                "{}: acknowledged {rationale:?} recorded {} times",
                ack.name,
                recorded.len()
            );
            assert_eq!(recorded[0].agency, *agency as i32);
            assert_eq!(recorded[0].recommendation, *recommendation as i32);
        }
        let deny = ack
            .recommendations
            .iter()
            .filter(|(_, r, _)| *r == pb::Recommendation::Deny)
            .count();
        let (expected_state, next) = if deny == 0 || deny == AGENCIES.len() {
            (
                pb::State::AwaitingLicensingDecision,
                "ReferredToLicensingOfficer",
            )
        } else {
            (
                pb::State::OperatingCommitteeReview,
                "EscalatedToOperatingCommittee",
            )
        };
        assert_eq!(state(app), expected_state, "{}", ack.name);
        assert_eq!(count(&history, next), 1, "{}: {history:#?}", ack.name);
        assert_eq!(
            history.len(),
            3 + AGENCIES.len() + 1,
            "{}: unexpected events: {history:#?}",
            ack.name
        );
    }
    let verified = verify_audit_trail(&mut client, "applications/-", "dev-auditor").await;
    assert!(verified.intact, "{verified:?}");
    assert_eq!(
        verified.applications_checked,
        acknowledged.len() as i64,
        "{verified:?}"
    );
    assert_eq!(
        verified.events_checked, events_checked as i64,
        "{verified:?}"
    );
    assert_eq!(
        counters.aborted_but_visible.load(Relaxed),
        0,
        "a retry with the request_id of a committed recommendation was answered ABORTED instead of its replay"
    );
    let panics = panics_in(&data.join("review.log"));
    assert!(panics.is_empty(), "review-svc panicked: {panics:?}");
    let c = &counters;
    report(format!(
        "crash[{backend}]: {KILLS} SIGKILLs (restarts took {:.1} s in all), {} calls sent, {} resent after a failure ({} of them then acknowledged), \
         {} creates and {} recommendations acknowledged, {} ABORTED ({} resent with a fresh etag, {} already visible), \
         {} applications / {} events verified once each, chain intact, {:.1} s",
        restart_time.as_secs_f64(),
        c.resends.attempts.load(Relaxed),
        c.resends.resent_after_failure.load(Relaxed),
        c.resends.acknowledged_after_failure.load(Relaxed),
        c.creates.load(Relaxed),
        c.recommendations.load(Relaxed),
        c.aborted.load(Relaxed),
        c.resent_with_new_etag.load(Relaxed),
        c.aborted_but_visible.load(Relaxed),
        acknowledged.len(),
        events_checked,
        started.elapsed().as_secs_f64(),
    ));
    assert!(
        c.resends.resent_after_failure.load(Relaxed) > 0,
        "no kill hit a call in flight"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the run took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_and_duplicates_nothing_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    crash_run("sqlite", &sqlite_url(data.path()), data.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_and_duplicates_nothing_on_postgres() {
    let Some(admin_url) = database_url("crash[postgres]") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let schema = Schema::create(&admin_url, "crash").await;
    crash_run("postgres", &schema.url(), data.path()).await;
    assert!(
        schema.tables().await > 0,
        "the URL's search_path did not select schema {}",
        schema.name()
    );
}
