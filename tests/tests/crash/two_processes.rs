//! Two review-svc processes on one PostgreSQL database.

use super::*;

/// A recommendation through one of the two processes, once.
async fn recommend_once(
    channel: &Channel,
    name: &str,
    etag: &str,
    agency: pb::Agency,
    token: &str,
    recommendation: pb::Recommendation,
    request_id: &str,
) -> Result<pb::Application, Status> {
    Client::new(channel.clone())
        .record_recommendation(authed(
            pb::RecordRecommendationRequest {
                request_id: request_id.to_owned(),
                ..recommendation_request(name, etag, agency, recommendation)
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn create_through(channel: &Channel) -> pb::Application {
    Client::new(channel.clone())
        .create_application(authed(h200_to_china(10), "dev-applicant"))
        .await
        .unwrap_or_else(|status| panic!("CreateApplication: {status:?}"))
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_never_both_win_and_apply_each_deadline_once() {
    let Some(admin_url) = database_url("two_processes_on_one_postgres") else {
        return;
    };
    let seed = seed();
    report(format!("two-processes: seed {seed}"));
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let schema = Schema::create(&admin_url, "shared").await;
    let url = schema.url();
    let classifier = start_classifier(free_port().unwrap(), data.path()).await;

    // Phase 1: conflicting transitions through both processes. Production
    // clocks, so no deadline interferes with the count of winners.
    const APPS: usize = 8;
    let (a, b) = start_two(data.path(), "", &classifier.url(), &url, "86400").await;
    let through = [channel(&a), channel(&b)];
    let apps: Vec<pb::Application> =
        futures::future::join_all((0..APPS).map(|i| create_through(&through[i % 2]))).await;
    let contests = apps.iter().map(|app| {
        let through = through.clone();
        let app = app.clone();
        async move {
            let mut contenders: Vec<(pb::Agency, &str, String)> = AGENCIES
                .iter()
                .map(|&(agency, token)| (agency, token, uuid::Uuid::new_v4().to_string()))
                .collect();
            let mut etag = app.etag.clone();
            let (mut rounds, mut losers) = (0, 0);
            while !contenders.is_empty() {
                rounds += 1;
                // Every remaining agency at once with the same etag, half
                // through each process.
                let answers = futures::future::join_all(contenders.iter().enumerate().map(
                    |(i, (agency, token, request_id))| {
                        recommend_once(
                            &through[i % 2],
                            &app.name,
                            &etag,
                            *agency,
                            token,
                            pb::Recommendation::Approve,
                            request_id,
                        )
                    },
                ))
                .await;
                let mut winners = Vec::new();
                for (i, answer) in answers.iter().enumerate() {
                    match answer {
                        Ok(updated) => winners.push((i, updated.clone())),
                        Err(status) if status.code() == Code::Aborted => losers += 1,
                        Err(status) => panic!("{}: {status:?}", app.name),
                    }
                }
                assert_eq!(
                    winners.len(),
                    1,
                    "{} at etag {etag}: {} winners: {answers:?}",
                    app.name,
                    winners.len()
                );
                let (winner, updated) = winners.pop().unwrap();
                contenders.remove(winner);
                etag = updated.etag;
            }
            (rounds, losers)
        }
    });
    let outcomes = futures::future::join_all(contests).await;
    let rounds: usize = outcomes.iter().map(|(r, _)| r).sum();
    let losers: usize = outcomes.iter().map(|(_, l)| l).sum();
    drop(a);
    drop(b);

    // Phase 2: 30-day agency deadline in 0.6 s, appeal windows in 0.1 s, the
    // 90-day referral to the President in 1.8 s; both sweep every 10 ms.
    const SWEPT_APPS: usize = 12;
    let (a, b) = start_two(data.path(), "2", &classifier.url(), &url, "0.02").await;
    let through = [channel(&a), channel(&b)];
    let mut rng = StdRng::seed_from_u64(seed);
    // Per application: which agencies answer (the others are deemed), how,
    // and through which process.
    let mut plans: Vec<Vec<(pb::Agency, &str, pb::Recommendation, usize)>> = Vec::new();
    for _ in 0..SWEPT_APPS {
        let mut plan = Vec::new();
        for &(agency, token) in &AGENCIES {
            if rng.random_bool(0.5) {
                let recommendation = if rng.random_bool(0.5) {
                    pb::Recommendation::Approve
                } else {
                    pb::Recommendation::Deny
                };
                plan.push((agency, token, recommendation, rng.random_range(0..2)));
            }
        }
        plans.push(plan);
    }
    let chair_decides: Vec<(bool, usize)> = (0..SWEPT_APPS)
        .map(|_| (rng.random_bool(0.7), rng.random_range(0..2)))
        .collect();
    let refused = AtomicU64::new(0);
    let acted = futures::future::join_all(plans.iter().zip(&chair_decides).enumerate().map(
        |(i, (plan, &(decide, via)))| {
            let through = &through;
            let refused = &refused;
            async move {
                // Filed through either process; acted on at once, racing
                // the 0.6 s agency deadline.
                let app = &create_through(&through[i % 2]).await;
                // Recommendations racing the agency deadline and each other;
                // ABORTED means re-read and try again while it is still open.
                let sends = plan
                    .iter()
                    .map(|&(agency, token, recommendation, via)| async move {
                        let request_id = uuid::Uuid::new_v4().to_string();
                        let mut etag = app.etag.clone();
                        loop {
                            match recommend_once(
                                &through[via],
                                &app.name,
                                &etag,
                                agency,
                                token,
                                recommendation,
                                &request_id,
                            )
                            .await
                            {
                                Ok(_) => return true,
                                Err(status) if status.code() == Code::Aborted => {
                                    let current = get_application(
                                        &mut Client::new(through[via].clone()),
                                        &app.name,
                                        "dev-officer",
                                    )
                                    .await;
                                    if state(&current) != pb::State::AgencyReview {
                                        refused.fetch_add(1, Relaxed);
                                        return false;
                                    }
                                    etag = current.etag;
                                }
                                Err(status) if status.code() == Code::FailedPrecondition => {
                                    refused.fetch_add(1, Relaxed);
                                    return false;
                                }
                                Err(status) => panic!("{}: {status:?}", app.name),
                            }
                        }
                    });
                let sent = futures::future::join_all(sends)
                    .await
                    .into_iter()
                    .filter(|ok| *ok)
                    .count();
                // The OC chair decides escalated applications, racing the appeal
                // window and the overall deadline.
                let mut decided = false;
                if decide {
                    let deadline = Instant::now() + Duration::from_secs(3);
                    while Instant::now() < deadline {
                        let current = get_application(
                            &mut Client::new(through[via].clone()),
                            &app.name,
                            "dev-oc-chair",
                        )
                        .await;
                        match state(&current) {
                            pb::State::AgencyReview => {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                continue;
                            }
                            pb::State::OperatingCommitteeReview => {}
                            _ => break,
                        }
                        let answer = Client::new(through[via].clone())
                            .decide_application(authed(
                                decision_request(
                                    &app.name,
                                    &current.etag,
                                    pb::Outcome::Deny,
                                    "decided on the record",
                                ),
                                "dev-oc-chair",
                            ))
                            .await;
                        match answer {
                            Ok(_) => {
                                decided = true;
                                break;
                            }
                            Err(status)
                                if matches!(
                                    status.code(),
                                    Code::Aborted | Code::FailedPrecondition
                                ) =>
                            {
                                refused.fetch_add(1, Relaxed);
                            }
                            Err(status) => panic!("{}: {status:?}", app.name),
                        }
                    }
                }
                (app.clone(), sent, decided)
            }
        },
    ))
    .await;

    // Quiescence: every application decided (appeal window closed) or with
    // the President (overall deadline).
    let mut client = Client::new(through[0].clone());
    let wait_until = Instant::now() + Duration::from_secs(20);
    let finals = loop {
        let current = futures::future::join_all(acted.iter().map(|(app, _, _)| {
            let mut client = client.clone();
            let name = app.name.clone();
            async move {
                client
                    .get_application(authed(pb::GetApplicationRequest { name }, "dev-officer"))
                    .await
                    .unwrap()
                    .into_inner()
            }
        }))
        .await;
        if current.iter().all(|app| {
            matches!(
                state(app),
                pb::State::Decided | pb::State::PresidentialReview
            )
        }) {
            break current;
        }
        assert!(
            Instant::now() < wait_until,
            "deadlines not applied: {:?}",
            current
                .iter()
                .map(|a| (a.name.clone(), state(a)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Let both sweepers run over the settled applications a while longer.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut deadline_events = BTreeMap::<String, usize>::new();
    for ((app, plan), (_, sent, _)) in finals.iter().zip(&plans).zip(&acted) {
        let history = all_events(&client, &app.name, "dev-auditor").await;
        let app = get_application(&mut client, &app.name, "dev-officer").await;
        check_sequence(&app, &history);
        for kind in ["ApplicationFiled", "ItemsClassified", "ReferredToAgencies"] {
            assert_eq!(
                count(&history, kind),
                1,
                "{}: {kind}: {history:#?}",
                app.name
            );
        }
        // Each deadline's consequence at most once, keyed by what it is about.
        let mut seen = HashSet::new();
        for event in &history {
            let (level, agency) = level_and_agency(event);
            let key = match event.r#type.as_str() {
                "DeemedNoObjection" | "RecommendationRecorded" => format!("{level}/{agency}"),
                "DecisionFinal" | "VotesTallied" => format!("{}/{level}", event.r#type),
                "ReferredToPresident"
                | "EscalatedToOperatingCommittee"
                | "ReferredToLicensingOfficer" => event.r#type.clone(),
                _ => continue,
            };
            assert!(
                seen.insert(key.clone()),
                "{}: {key} twice: {history:#?}",
                app.name
            );
            if event.actor == "system" {
                *deadline_events.entry(event.r#type.clone()).or_default() += 1;
            }
        }
        // Each agency answered exactly once at agency level: by itself or deemed.
        for (agency, _) in AGENCIES {
            let key = format!(
                "AGENCY/{}",
                agency.as_str_name().trim_start_matches("AGENCY_")
            );
            assert!(
                seen.contains(&key),
                "{}: no answer for {key}: {history:#?}",
                app.name
            );
        }
        let recorded = count(&history, "RecommendationRecorded");
        assert_eq!(
            recorded, *sent,
            "{}: {sent} recommendations acknowledged, {recorded} recorded",
            app.name
        );
        assert_eq!(
            count(&history, "DeemedNoObjection"),
            AGENCIES.len() - sent,
            "{}: {history:#?}",
            app.name
        );
        assert!(plan.len() >= *sent);
        match state(&app) {
            pb::State::Decided => assert_eq!(
                count(&history, "DecisionFinal"),
                1,
                "{}: {history:#?}",
                app.name
            ),
            _ => assert_eq!(
                count(&history, "ReferredToPresident"),
                1,
                "{}: {history:#?}",
                app.name
            ),
        }
    }
    for channel in &through {
        let verified = verify_audit_trail(
            &mut Client::new(channel.clone()),
            "applications/-",
            "dev-auditor",
        )
        .await;
        assert!(verified.intact, "{verified:?}");
        assert_eq!(
            verified.applications_checked,
            (APPS + SWEPT_APPS) as i64,
            "{verified:?}"
        );
    }
    for log in [
        "review-a.log",
        "review-b.log",
        "review-a2.log",
        "review-b2.log",
    ] {
        let panics = panics_in(&data.path().join(log));
        assert!(panics.is_empty(), "{log}: {panics:?}");
    }
    assert!(
        schema.tables().await > 0,
        "the URL's search_path did not select schema {}",
        schema.name()
    );
    let decided = finals
        .iter()
        .filter(|a| state(a) == pb::State::Decided)
        .count();
    report(format!(
        "two-processes[postgres]: {APPS} applications x 4 agencies contended in {rounds} rounds through 2 processes: \
         {rounds} winners, {losers} ABORTED losers; {SWEPT_APPS} applications with deadlines racing 2 sweepers: \
         {} recommendations and {} OC decisions accepted, {} refused by a passed deadline or a lost race, \
         deadline events {deadline_events:?} each once; {decided} decided, {} with the President; chain intact; {:.1} s",
        acted.iter().map(|(_, sent, _)| sent).sum::<usize>(),
        acted.iter().filter(|(_, _, decided)| *decided).count(),
        refused.load(Relaxed),
        SWEPT_APPS - decided,
        started.elapsed().as_secs_f64(),
    ));
}
