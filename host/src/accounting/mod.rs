//! Usage accounting in SQLite (`data/usage.db` by default): one row per
//! request, updated through its lifecycle to exactly one terminal status, plus
//! the persisted totals of the policies' reservation pools (month-to-date
//! quota and budget), so quotas survive a restart.
//!
//! - [`schema`]: versioned migrations (`PRAGMA user_version`), WAL mode, indexes.
//! - [`writer`]: the one thread that writes. The request path never touches
//!   SQLite: it sends row snapshots over a bounded channel; the writer commits
//!   them in batches (one transaction per batch) and acknowledges each batch.
//!   An unacknowledged snapshot (`processing`) waits up to
//!   [`writer::DEFER`] so that a newer snapshot of the same request can
//!   replace it unwritten. A terminal row is acknowledged **before** the client gets its answer, so
//!   after a `kill -9` every answered request has its row (WAL survives a
//!   process crash). When the channel is full (65,536 batches waiting),
//!   senders wait for room: requests slow down, rows are never dropped.
//! - [`checkpoint`]: copies the WAL into the database file on its own
//!   thread, off the writer's path.
//! - [`queries`]: the `/usage/*` reads, on their own connections (WAL lets
//!   them run beside the writer).

pub mod checkpoint;
pub mod queries;
pub mod schema;
pub mod writer;

use serde::Serialize;
use std::path::{Path, PathBuf};
use tokio::sync::{mpsc, oneshot};

/// Batches that may wait for the writer before senders wait.
pub const CHANNEL_CAPACITY: usize = 65_536;

/// One request's row, as a full snapshot (the writer upserts by `request_id`;
/// a snapshot with a lower `version` than the stored one is ignored, so
/// snapshots may arrive in any order).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct UsageRow {
    pub request_id: String,
    pub version: u32,
    pub user_id: String,
    pub project_id: String,
    pub model: String,
    pub backend: Option<String>,
    pub request_type: String,
    pub priority: Option<String>,
    pub status: String,
    pub decision: String,
    pub degradation_level: Option<String>,
    /// Settled usage (NULL until the request is settled).
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    pub cost_nano_eur: Option<u64>,
    /// The estimates the policies saw.
    pub estimated_input_tokens: Option<u32>,
    pub estimated_output_tokens: Option<u32>,
    pub estimated_cost_nano_eur: Option<u64>,
    pub latency_seconds: Option<f64>,
    pub queue_wait_seconds: Option<f64>,
    pub error_message: Option<String>,
    pub http_status: Option<u16>,
    pub policy_versions: Option<String>,
    pub actions: Option<String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// A reservation pool's settled total, persisted so it survives a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRow {
    pub namespace: String,
    pub pool: String,
    pub used: u64,
}

/// What was found in the database at start.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Pools to restore into the policy state.
    pub pools: Vec<PoolRow>,
    /// Requests that were queued or running when the gateway stopped; now `failed`.
    pub interrupted: usize,
}

/// One message to the writer.
#[derive(Default)]
pub(crate) struct Batch {
    rows: Vec<UsageRow>,
    pools: Vec<PoolRow>,
    prune_before_ms: Option<u64>,
    ack: Option<oneshot::Sender<Result<(), String>>>,
    /// Commit what came before, then stop.
    stop: bool,
}

/// Handle to the accounting database.
pub struct Accounting {
    tx: mpsc::Sender<Batch>,
    path: PathBuf,
    writer: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Accounting {
    /// Opens (creating parent folders and migrating) the database at `path`,
    /// closes requests a previous run left open, reads the persisted pools,
    /// and starts the writer thread.
    pub fn open(path: &Path, now_ms: u64) -> anyhow::Result<(Self, Recovered)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        let mut conn = schema::open(path)?;
        let recovered = schema::recover(&mut conn, now_ms)?;
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        // The writer never checkpoints; the checkpointer does, on its own connection.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (stop_checkpoints, stopped) = std::sync::mpsc::channel();
        let checkpointer = std::thread::Builder::new()
            .name("usage-checkpoint".into())
            .spawn({
                let conn = schema::connect(path)?;
                move || {
                    checkpoint::run(
                        conn,
                        stopped,
                        checkpoint::INTERVAL,
                        checkpoint::RESTART_FRAMES,
                    )
                }
            })?;
        let handle = std::thread::Builder::new()
            .name("usage-writer".into())
            .spawn(move || {
                writer::run(&mut conn, rx, rt);
                drop(stop_checkpoints);
                let _ = checkpointer.join();
                let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
            })?;
        Ok((
            Self {
                tx,
                path: path.to_owned(),
                writer: parking_lot::Mutex::new(Some(handle)),
            },
            recovered,
        ))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes rows and pools and waits until they are committed (rows sent
    /// before without acknowledgement may still be waiting; see [`Accounting::send`]).
    pub async fn write(&self, rows: Vec<UsageRow>, pools: Vec<PoolRow>) -> Result<(), String> {
        self.acknowledged(Batch {
            rows,
            pools,
            ..Batch::default()
        })
        .await
    }

    /// Sends rows without waiting for the commit (intermediate states): they
    /// are written within [`writer::DEFER`] unless a newer snapshot of the
    /// same request replaces them first, and at [`Accounting::close`].
    pub async fn send(&self, rows: Vec<UsageRow>) {
        let batch = Batch {
            rows,
            ..Batch::default()
        };
        if self.tx.send(batch).await.is_err() {
            tracing::error!("the usage writer has stopped; a row was not written");
        }
    }

    /// Deletes finished rows created before `before_ms`; returns once done.
    pub async fn prune(&self, before_ms: u64) -> Result<(), String> {
        self.acknowledged(Batch {
            prune_before_ms: Some(before_ms),
            ..Batch::default()
        })
        .await
    }

    /// Stops the writer after it committed everything sent before.
    pub async fn close(&self) {
        let _ = self
            .acknowledged(Batch {
                stop: true,
                ..Batch::default()
            })
            .await;
        let handle = self.writer.lock().take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    /// Sends `batch` and waits until the writer has committed it.
    async fn acknowledged(&self, mut batch: Batch) -> Result<(), String> {
        let stopped = || "the usage writer has stopped".to_string();
        let (ack, done) = oneshot::channel();
        batch.ack = Some(ack);
        self.tx.send(batch).await.map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }
}

/// `2026-12-04T19:33:08.045000+00:00` (the seed's timestamp format) from ms since the epoch.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        (ms % 1000) * 1000
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_the_seed_format() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            iso8601(1_796_412_788_045),
            "2026-12-04T19:33:08.045000+00:00"
        );
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000000+00:00");
    }
}
