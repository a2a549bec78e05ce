use super::*;

// ---------------------------------------------------------------------------
// The gRPC adapter, in process
// ---------------------------------------------------------------------------

pub(crate) struct Adapter {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) review: review_svc::grpc::Review,
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) _classifier: service_kit::server::RunningServer,
}

pub(crate) fn adapter() -> Adapter {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (review, classifier) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let classifier =
            classifier_svc::serve(listener, service_kit::server::ServeOptions::default())
                .await
                .unwrap();
        let url = format!("http://{}", classifier.local_addr);
        let store = review_svc::store::open(&format!(
            "sqlite://{}",
            dir.path().join("fuzz.db").display()
        ))
        .await
        .unwrap();
        let ledger = Arc::new(review_svc::ledger::Ledger::new(
            store.clone(),
            // A 30-day agency deadline of 6 s: some pass during a run.
            Workflow::from_embedded(chrono::Duration::milliseconds(200)),
        ));
        let client = review_svc::classifier_client::ClassifierClient::connect_lazy(
            &url,
            None,
            review_svc::classifier_client::RetryPolicy::default(),
        )
        .unwrap();
        let (auth, _) = review_svc::auth::Authenticator::development();
        let review = review_svc::grpc::Review::new(
            ledger,
            Arc::new(auth),
            client,
            Arc::new(review_svc::clock::SystemClock),
            Arc::new(review_svc::audit::Auditor::open(store, None).unwrap()),
            review_svc::grpc::Keys::new(b"fuzz"),
        );
        (review, classifier)
    });
    Adapter {
        runtime,
        review,
        _dir: dir,
        _classifier: classifier,
    }
}

/// The message with random metadata: mostly the token of someone who may
/// make the call (one of `likely`), else any token, a malformed header or none.
pub(crate) fn with_metadata<T>(
    rng: &mut Entropy,
    message: T,
    likely: &[&str],
) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let header = match rng.random_range(0..12) {
        6..=11 if !likely.is_empty() => Some(format!("Bearer {}", pick(rng, likely))),
        0 => None,
        1 => Some("Bearer".to_owned()),
        2 => Some(format!("Basic {}", pick(rng, &TOKENS))),
        3 => Some(format!("Bearer {} extra", pick(rng, &TOKENS))),
        _ => Some(format!("Bearer {}", pick(rng, &TOKENS))),
    };
    if let Some(header) = header {
        if let Ok(value) = header.parse() {
            request.metadata_mut().insert("authorization", value);
        }
    }
    if rng.random_bool(0.5) {
        let timeout = pick(
            rng,
            &[
                "1S",
                "200m",
                "1n",
                "0m",
                "99999999H",
                "5S",
                "x",
                "-1S",
                "1",
                "100000000S",
                "+1S",
            ],
        );
        request
            .metadata_mut()
            .insert("grpc-timeout", timeout.parse().unwrap());
    }
    if rng.random_bool(0.1) {
        let parent = pick(
            rng,
            &[
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "garbage",
                "00-0-0-0",
                "",
            ],
        );
        if let Ok(value) = parent.parse() {
            request.metadata_mut().insert("traceparent", value);
        }
    }
    request
}

pub(crate) fn code_of<T>(result: &Result<T, tonic::Status>) -> String {
    match result {
        Ok(_) => "OK".into(),
        Err(status) => format!("{:?}", status.code()),
    }
}

/// What one call answered, and what later calls may build on.
struct Outcome {
    label: &'static str,
    code: String,
    /// The application a transition answered (its name and etag).
    updated: Option<pb::Application>,
    /// A list's next page token.
    token: Option<String>,
}

impl Outcome {
    fn of<T>(label: &'static str, answer: &Result<tonic::Response<T>, tonic::Status>) -> Self {
        Outcome {
            label,
            code: code_of(answer),
            updated: None,
            token: None,
        }
    }

    /// A call that answers an application.
    fn application(
        label: &'static str,
        answer: Result<tonic::Response<pb::Application>, tonic::Status>,
    ) -> Self {
        Outcome {
            updated: answer.as_ref().ok().map(|a| a.get_ref().clone()),
            ..Outcome::of(label, &answer)
        }
    }

    /// A list call: its next page token.
    fn page<T>(
        label: &'static str,
        answer: Result<tonic::Response<T>, tonic::Status>,
        next_page_token: impl FnOnce(&T) -> &String,
    ) -> Self {
        Outcome {
            token: answer
                .as_ref()
                .ok()
                .map(|l| next_page_token(l.get_ref()).clone()),
            ..Outcome::of(label, &answer)
        }
    }
}

/// The tokens that speak for a recommendation's agency, at every level.
fn speakers_for(agency: i32) -> Vec<String> {
    let agency = pb::Agency::try_from(agency)
        .map(|a| a.as_str_name().trim_start_matches("AGENCY_").to_lowercase())
        .unwrap_or_default();
    ["dev", "dev-acep", "dev-earb"]
        .map(|prefix| format!("{prefix}-{agency}"))
        .into()
}

#[test]
pub(crate) fn grpc_adapter() {
    let adapter = adapter();
    let mut known: Vec<(String, String)> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    fuzz_target!("review/grpc_adapter", |rng, tally| {
        let all = requests(rng, &known, &ids, &tokens);
        let review = &adapter.review;
        let method = rng.random_range(0..10);
        let outcome = adapter.runtime.block_on(async {
            // The message as drawn, perhaps mutated, sent with one of `likely` tokens.
            macro_rules! call {
                ($method:ident, $message:expr, $likely:expr) => {{
                    let message = perhaps_mutated(rng, $message);
                    review.$method(with_metadata(rng, message, $likely)).await
                }};
            }
            match method {
                0 => {
                    let message = perhaps_mutated(rng, all.create);
                    ids.push(message.request_id.clone());
                    let likely = &["dev-applicant", "dev-applicant-2"];
                    let r = review
                        .create_application(with_metadata(rng, message, likely))
                        .await;
                    Outcome::application("CreateApplication", r)
                }
                1 => {
                    let likely = &["dev-auditor", "dev-applicant", "dev-officer"];
                    let r = call!(get_application, all.get, likely);
                    Outcome::application("GetApplication", r)
                }
                2 => {
                    let likely = &["dev-auditor", "dev-applicant", "dev-state"];
                    let r = call!(list_applications, all.list, likely);
                    Outcome::page("ListApplications", r, |l| &l.next_page_token)
                }
                3 => {
                    let message = perhaps_mutated(rng, all.recommend);
                    ids.push(message.request_id.clone());
                    let speakers = speakers_for(message.agency);
                    let speakers: Vec<&str> = speakers.iter().map(String::as_str).collect();
                    let r = review
                        .record_recommendation(with_metadata(rng, message, &speakers))
                        .await;
                    Outcome::application("RecordRecommendation", r)
                }
                4 => {
                    let likely = &["dev-officer", "dev-oc-chair", "dev-president"];
                    let r = call!(decide_application, all.decide, likely);
                    Outcome::application("DecideApplication", r)
                }
                5 => {
                    let r = call!(appeal_application, all.appeal, AGENCY_TOKENS);
                    Outcome::application("AppealApplication", r)
                }
                6 => {
                    let r = call!(withdraw_application, all.withdraw, &["dev-applicant"]);
                    Outcome::application("WithdrawApplication", r)
                }
                7 => {
                    let likely = &["dev-auditor", "dev-applicant"];
                    let r = call!(list_application_events, all.events, likely);
                    Outcome::page("ListApplicationEvents", r, |l| &l.next_page_token)
                }
                8 => {
                    let likely = &["dev-auditor", "dev-applicant"];
                    let r = call!(watch_applications, all.watch, likely);
                    let outcome = Outcome::of("WatchApplications", &r);
                    if let Ok(response) = r {
                        let mut stream = response.into_inner();
                        for _ in 0..3 {
                            match tokio::time::timeout(Duration::from_millis(5), stream.next())
                                .await
                            {
                                Ok(Some(_)) => continue,
                                _ => break,
                            }
                        }
                    }
                    outcome
                }
                _ => {
                    let likely = &["dev-auditor", "dev-applicant"];
                    let r = call!(verify_audit_trail, all.verify, likely);
                    if let Ok(report) = &r {
                        assert!(
                            report.get_ref().intact,
                            "the adapter broke the chain: {:?}",
                            report.get_ref()
                        );
                    }
                    Outcome::of("VerifyAuditTrail", &r)
                }
            }
        });
        if let Some(app) = outcome.updated {
            match known.iter_mut().find(|(name, _)| *name == app.name) {
                Some(entry) => entry.1 = app.etag,
                None => known.push((app.name, app.etag)),
            }
        }
        if let Some(token) = outcome.token.filter(|t| !t.is_empty()) {
            tokens.push(token);
        }
        ids.truncate(64);
        bump(tally, format!("{} {}", outcome.label, outcome.code));
    });
    // Whatever the calls did, the history is intact.
    let report = adapter.runtime.block_on(async {
        let mut request = tonic::Request::new(pb::VerifyAuditTrailRequest::default());
        request
            .metadata_mut()
            .insert("authorization", "Bearer dev-auditor".parse().unwrap());
        adapter
            .review
            .verify_audit_trail(request)
            .await
            .unwrap()
            .into_inner()
    });
    assert!(report.intact, "{report:?}");
    let _ = writeln!(
        std::io::stderr(),
        "fuzz review/grpc_adapter: afterwards {} applications, {} events, chain intact",
        report.applications_checked,
        report.events_checked
    );
}
