//! Copies the write-ahead log back into the database file between the
//! writer's batches, after their callers have had their answers.
//!
//! By default SQLite checkpoints inside the COMMIT that takes the log past
//! 1,000 pages, so the callers of that batch also wait for megabytes to be
//! copied into the main file. The writer connection turns that off
//! (`wal_autocheckpoint=0`) and the writer task checkpoints itself once it
//! has answered a batch, at most every `interval`. Being the only writer,
//! it has the log to itself then: the checkpoint reaches the end of the log
//! and the next write starts the log over. (A checkpoint from another
//! connection, concurrent with the writer, never caught up with it: the log
//! only grew, until truncating it stalled every write for a quarter of a
//! second.) Should readers keep a checkpoint from reaching the end, past
//! `TRUNCATE_FRAMES` the log is truncated, waiting (within the busy
//! timeout) for them to move on.

use std::time::Duration;

use sqlx::{Row, SqlitePool};
use tokio::time::Instant;

/// Log frames (pages, 4 KiB by default) above which the log is truncated.
const TRUNCATE_FRAMES: i64 = 16_384;

/// When the writer last checkpointed, and how often it should.
pub(super) struct Checkpointer {
    interval: Duration,
    last: Instant,
}

impl Checkpointer {
    pub(super) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Instant::now(),
        }
    }

    /// Checkpoints on the writer's connection if `interval` has passed
    /// since the last time. Failing is not fatal: the log keeps the writes,
    /// and the next call tries again.
    pub(super) async fn after_batch(&mut self, writer: &SqlitePool) {
        if self.last.elapsed() < self.interval {
            return;
        }
        self.last = Instant::now();
        if let Err(error) = checkpoint(writer).await {
            tracing::warn!(%error, "SQLite checkpoint failed; will retry");
        }
    }
}

async fn checkpoint(writer: &SqlitePool) -> Result<(), sqlx::Error> {
    let started = std::time::Instant::now();
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(writer)
        .await?;
    let (busy, frames, copied): (i64, i64, i64) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let micros = super::elapsed_micros(started);
    tracing::trace!(busy, frames, copied, micros, "SQLite checkpoint");
    if frames > TRUNCATE_FRAMES {
        tracing::debug!(frames, "SQLite write-ahead log is long: truncating it");
        truncate(writer).await?;
    }
    Ok(())
}

/// Copies the whole log into the database file and empties it, waiting
/// (within the busy timeout) for readers to move on; false when they did
/// not, and the log was not wholly copied.
pub(super) async fn truncate(writer: &SqlitePool) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(writer)
        .await?;
    let busy: i64 = row.try_get(0)?;
    Ok(busy == 0)
}
