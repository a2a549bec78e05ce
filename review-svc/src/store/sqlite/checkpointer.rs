//! Copies the write-ahead log back into the database file off the commit
//! path.
//!
//! By default SQLite checkpoints inside the COMMIT that takes the WAL past
//! 1,000 pages, so every few hundred filings one caller's commit also copies
//! megabytes into the main file (it was 5 % of the service's CPU, all of it
//! on the single writer). The writer connection turns that off
//! (`wal_autocheckpoint=0`) and this task checkpoints from a read
//! connection instead, concurrently with the writer: PASSIVE never waits for
//! the writer or the readers. Should long reads keep a PASSIVE checkpoint
//! from reaching the end of the log, the log would only grow; past
//! `RESTART_FRAMES` the task truncates it (waiting, within the busy
//! timeout, for the readers to move on).

use std::time::Duration;

use sqlx::{Row, SqlitePool};
use tokio::sync::mpsc::WeakSender;

use super::WriteJob;

/// WAL frames (pages, 4 KiB by default) above which the log is truncated.
const RESTART_FRAMES: i64 = 16_384;

/// Checkpoints every `interval` until the store is dropped (its writer
/// queue closed).
pub(super) async fn run(readers: SqlitePool, writer: WeakSender<WriteJob>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if writer.upgrade().is_none() {
            return;
        }
        if let Err(error) = checkpoint(&readers).await {
            tracing::warn!(%error, "SQLite checkpoint failed; will retry");
        }
    }
}

async fn checkpoint(readers: &SqlitePool) -> Result<(), sqlx::Error> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(readers)
        .await?;
    let (busy, frames, copied): (i64, i64, i64) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    tracing::trace!(busy, frames, copied, "SQLite checkpoint");
    if frames > RESTART_FRAMES {
        tracing::debug!(frames, "SQLite write-ahead log is long: truncating it");
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(readers)
            .await?;
    }
    Ok(())
}
