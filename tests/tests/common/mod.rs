//! What the crash tests share: a client that resends a call until it is
//! answered while review-svc is killed and restarted under it.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rand::Rng;
use system_tests::transient;
use tonic::Status;

/// Patience of one attempt (longer than any write takes; a shorter one
/// could overlap a retry with an attempt still running on the server).
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// What resending clients counted over a run.
#[derive(Default)]
pub struct Resends {
    /// Calls sent, resends included.
    pub attempts: AtomicU64,
    /// Calls sent again after a transport failure or no answer.
    pub resent_after_failure: AtomicU64,
    /// Calls answered after at least one failure.
    pub acknowledged_after_failure: AtomicU64,
}

impl Resends {
    /// Sends the request made by `call` until it gets an answer that is not
    /// a transport failure; that answer (success or refusal) is returned.
    /// Past `deadline` the test fails, naming `what`.
    pub async fn until_answered<T, F, Fut>(
        &self,
        what: &str,
        deadline: Instant,
        mut call: F,
    ) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut failures = 0u32;
        loop {
            self.attempts.fetch_add(1, Relaxed);
            let last = match tokio::time::timeout(CALL_TIMEOUT, call()).await {
                Ok(Ok(answer)) => {
                    if failures > 0 {
                        self.acknowledged_after_failure.fetch_add(1, Relaxed);
                    }
                    return Ok(answer);
                }
                Ok(Err(status)) if !transient(status.code()) => return Err(status),
                Ok(Err(status)) => status,
                Err(_) => Status::deadline_exceeded("no answer within the client's patience"),
            };
            failures += 1;
            self.resent_after_failure.fetch_add(1, Relaxed);
            assert!(
                Instant::now() < deadline,
                "{what}: no answer before the run's deadline after {failures} attempts; last: {last:?}"
            );
            let pause = rand::rng().random_range(10..40);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
}
