//! The memo of answers: a request asked again is answered from memory, and
//! that answer is the one the rules give now, but for its own decision id.

use crate::support::*;
use service_kit::metrics::Registry;

async fn spawn_remembering(bytes: u64, metrics: std::sync::Arc<Registry>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let options = ServeOptions {
        metrics,
        ..ServeOptions::default()
    };
    let server = classifier_svc::serve_with_memo(listener, options, bytes)
        .await
        .expect("server starts");
    let channel = connect(&server).await.expect("client connects");
    TestServer { server, channel }
}

fn without_decision_id(mut response: pb::ClassifyItemResponse) -> pb::ClassifyItemResponse {
    response.decision_id.clear();
    response
}

/// Every catalogue chip, to four destinations and with none, on dates of
/// four rule sets, in both views.
fn questions() -> Vec<pb::ClassifyItemRequest> {
    let chips = classifier_svc::catalog::Catalog::builtin().chips();
    let mut questions = Vec::new();
    for chip in chips {
        for destination in [None, Some("CN"), Some("AE"), Some("DE"), Some("MO")] {
            for as_of in ["2023-01-01", "2024-06-01", "2026-02-01", "2026-08-01"] {
                for view in [pb::ClassificationView::Basic, pb::ClassificationView::Full] {
                    questions.push(pb::ClassifyItemRequest {
                        view: view as i32,
                        ..catalogue(&chip.id, destination.map(export_to), as_of)
                    });
                }
            }
        }
    }
    questions
}

#[tokio::test]
async fn a_remembered_answer_is_the_answer_decided_anew() {
    let metrics = Registry::new();
    let remembering = spawn_remembering(64 << 20, metrics.clone()).await;
    let forgetting = spawn_remembering(0, Registry::new()).await;
    let (mut remembering_client, mut forgetting_client) =
        (remembering.client(), forgetting.client());
    let questions = questions();
    for question in &questions {
        let first = remembering_client
            .classify_item(question.clone())
            .await
            .expect("answered")
            .into_inner();
        let again = remembering_client
            .classify_item(question.clone())
            .await
            .expect("answered again")
            .into_inner();
        let anew = forgetting_client
            .classify_item(question.clone())
            .await
            .expect("answered without a memo")
            .into_inner();
        assert_decision_id(&first);
        assert_decision_id(&again);
        assert_ne!(first.decision_id, again.decision_id, "{question:?}");
        assert_eq!(
            without_decision_id(first.clone()),
            without_decision_id(again),
            "{question:?}"
        );
        assert_eq!(
            without_decision_id(first),
            without_decision_id(anew),
            "{question:?}"
        );
    }
    let exposition = metrics.render().await;
    let asked = questions.len();
    assert!(
        exposition.contains(&format!(
            "classifier_answer_memo_total{{outcome=\"hit\"}} {asked}"
        )),
        "{exposition}"
    );
    assert!(
        exposition.contains(&format!(
            "classifier_answer_memo_total{{outcome=\"miss\"}} {asked}"
        )),
        "{exposition}"
    );
    // Remembered answers count as decisions, under their own labels.
    let decisions: u64 = exposition
        .lines()
        .filter(|line| line.starts_with("classifier_decisions_total{"))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(decisions, 2 * asked as u64, "{exposition}");
    remembering.stop().await;
    forgetting.stop().await;
}

#[tokio::test]
async fn a_request_without_a_date_is_remembered_for_today_only_and_refusals_never() {
    let metrics = Registry::new();
    let app = spawn_remembering(1 << 20, metrics.clone()).await;
    let mut client = app.client();
    let today = h200(export_to("CN"), "");
    for _ in 0..2 {
        let answer = client
            .classify_item(today.clone())
            .await
            .expect("answered")
            .into_inner();
        assert_eq!(answer.as_of, chrono::Utc::now().date_naive().to_string());
    }
    let refused = h200(export_to("XX"), "2026-02-01");
    for _ in 0..2 {
        let status = client
            .classify_item(refused.clone())
            .await
            .expect_err("refused");
        Refusal::of_status(&status).assert_names(
            Code::InvalidArgument,
            "transaction.destination_country",
            "an unknown country, asked twice",
        );
    }
    let exposition = metrics.render().await;
    assert!(
        exposition.contains("classifier_answer_memo_total{outcome=\"hit\"} 1"),
        "{exposition}"
    );
    assert!(
        exposition.contains("classifier_answer_memo_total{outcome=\"miss\"} 3"),
        "{exposition}"
    );
    app.stop().await;
}
