//! Background work: applying deadlines that have passed, classifying
//! applications accepted while the classifier was unavailable, and looking
//! for other processes' writes for this process's watches. The first two
//! are safe to run in several processes at once: every write is a
//! compare-and-set on the application's version, so one wins and the others
//! find nothing left to do; the third only reads.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use service_kit::trace_context::TraceContext;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::classifier_client::ClassifierClient;
use crate::classify::{classify_content, Classified};
use crate::clock::Clock;
use crate::ledger::{HistoryPoll, Ledger, LedgerError};
use crate::store::ListFilter;
use crate::watch_gaps::GAP_POLL;
use crate::workflow::{Actor, Command, ItemOutcome, State};

const BATCH: u32 = 100;
/// How soon a watch learns of a write by another process.
pub const HISTORY_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Applications of a batch swept at once.
pub const SWEEP_CONCURRENCY: usize = 32;

/// Applies passed deadlines every `interval`.
pub fn spawn_sweeper(
    ledger: Arc<Ledger>,
    clock: Arc<dyn Clock>,
    interval: Duration,
) -> JoinHandle<()> {
    spawn_every(interval, move || {
        let (ledger, now) = (Arc::clone(&ledger), clock.now());
        async move {
            if let Err(error) = sweep_once(&ledger, now).await {
                tracing::warn!(%error, "deadline sweep failed; will retry");
            }
            // Licences whose validity ended are recorded EXPIRED.
            match ledger.sweep_licenses(now, BATCH).await {
                Ok(0) => {}
                Ok(expired) => tracing::info!(expired, "licences expired"),
                Err(error) => tracing::warn!(%error, "licence sweep failed; will retry"),
            }
        }
    })
}

/// Wakes this process's watches after writes of other processes sharing
/// the database ([`Ledger::poll_history`]): every `interval`, or sooner
/// while a gap in the sequence is waited for.
pub fn spawn_history_poll(ledger: Arc<Ledger>, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut poll = HistoryPoll::new();
        loop {
            let wait = if poll.at_gap() { GAP_POLL } else { interval };
            tokio::time::sleep(wait).await;
            if let Err(error) = ledger.poll_history(&mut poll, Instant::now()).await {
                tracing::warn!(%error, "history poll failed; will retry");
            }
        }
    })
}

/// Runs `round` every `interval`. A round that overruns delays the next
/// rather than letting missed ones run back to back.
fn spawn_every<F, R>(interval: Duration, mut round: F) -> JoinHandle<()>
where
    F: FnMut() -> R + Send + 'static,
    R: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            round().await;
        }
    })
}

/// One pass over every application whose earliest deadline has passed.
///
/// The applications of a batch are swept concurrently, so their writes
/// share commits (the SQLite writer groups queued writes into one
/// transaction, PostgreSQL groups concurrent WAL flushes): one commit per
/// application made the sweeper commit-bound. Each write is still a
/// compare-and-set on its own application's version.
pub async fn sweep_once(
    ledger: &Ledger,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, LedgerError> {
    let mut applied = 0;
    loop {
        let due = ledger.due(now, BATCH).await?;
        let batch_len = due.len();
        let mut outcomes = futures::stream::iter(due)
            .map(|app| {
                let span = tracing::info_span!(
                    "sweep",
                    application = %crate::convert::resource_name(&app.id)
                );
                async move {
                    let written = ledger.sweep(&app, now).await?;
                    if written {
                        tracing::info!("deadline applied");
                    }
                    Ok::<bool, LedgerError>(written)
                }
                .instrument(span)
            })
            .buffer_unordered(SWEEP_CONCURRENCY);
        let mut progressed = 0;
        let mut first_error = None;
        while let Some(outcome) = outcomes.next().await {
            match outcome {
                Ok(true) => progressed += 1,
                Ok(false) => {}
                // Let the writes already under way finish before reporting.
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        applied += progressed;
        if let Some(error) = first_error {
            return Err(error);
        }
        // A full batch where nothing moved means the rest is someone else's
        // (or not yet actionable): stop rather than spin.
        if batch_len < BATCH as usize || progressed == 0 {
            return Ok(applied);
        }
    }
}

/// Classifies pending applications every `interval`.
pub fn spawn_classification_retry(
    ledger: Arc<Ledger>,
    classifier: ClassifierClient,
    clock: Arc<dyn Clock>,
    interval: Duration,
) -> JoinHandle<()> {
    spawn_every(interval, move || {
        let (ledger, classifier, clock) =
            (Arc::clone(&ledger), classifier.clone(), Arc::clone(&clock));
        async move {
            if let Err(error) = classify_pending(&ledger, &classifier, clock.as_ref()).await {
                tracing::warn!(%error, "classification of pending applications failed; will retry");
            }
        }
    })
}

/// One pass over the applications waiting for the classifier.
pub async fn classify_pending(
    ledger: &Ledger,
    classifier: &ClassifierClient,
    clock: &dyn Clock,
) -> Result<usize, LedgerError> {
    let filter = ListFilter {
        state: Some(State::ClassificationPending.as_str().to_owned()),
        ..Default::default()
    };
    let pending = ledger.list(&filter, None, BATCH).await?;
    let mut classified = 0;
    for app in pending {
        let trace = TraceContext::root();
        let span = tracing::info_span!(
            "classify_pending",
            application = %crate::convert::resource_name(&app.id),
            trace_id = %trace.trace_id
        );
        trace.attach(&span);
        let _entered = span.enter();
        let items = match classify_content(classifier, &app.filed, None, &trace).await {
            Classified::Items(items) => items,
            Classified::Invalid(violations) => refused_items(app.item_count, &violations),
            Classified::Unavailable(reason) => {
                tracing::debug!(%reason, "classifier still unavailable");
                return Ok(classified);
            }
        };
        match ledger
            .command(
                &app.id,
                &Actor::system(),
                Some(app.version),
                Command::RecordClassification { items },
                None,
                clock.now(),
            )
            .await
        {
            Ok(_) => {
                tracing::info!("application classified");
                classified += 1;
            }
            // Another process classified it, or a deadline moved it on.
            Err(LedgerError::EtagMismatch { .. }) | Err(LedgerError::Refused(_)) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(classified)
}

/// The classifier refused an item of an application it had not seen at
/// filing time. The application still goes to review, never around it, with
/// the refusal as its summary.
fn refused_items(
    item_count: u32,
    violations: &[service_kit::errors::Violation],
) -> Vec<ItemOutcome> {
    let detail = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ");
    (0..item_count)
        .map(|item_index| ItemOutcome {
            item_index,
            license_required: true,
            review_policy: "INDETERMINATE".to_owned(),
            rule_set: String::new(),
            decision_id: String::new(),
            summary: format!("item {item_index}: the classifier refused the filing ({detail})"),
            answer: Default::default(),
        })
        .collect()
}
