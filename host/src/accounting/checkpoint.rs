//! The checkpointer thread: copies committed WAL frames into the database
//! file beside the writer, so the writer's commits (on which answers wait)
//! never run a checkpoint and its fsyncs themselves.
//!
//! Every [`INTERVAL`] it runs a `PASSIVE` checkpoint, which never blocks the
//! writer. The writer starts the WAL over on its own once a checkpoint has
//! caught up; under steady load a passive checkpoint rarely catches up (new
//! frames arrive while it copies), so when the WAL holds more than
//! [`RESTART_FRAMES`] frames a `RESTART` checkpoint, which holds the writer
//! back while it copies the few frames left, bounds the file.

use rusqlite::Connection;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// How often committed frames are copied into the database file.
pub const INTERVAL: Duration = Duration::from_millis(200);

/// WAL frames (pages of 4 KiB) above which the WAL is started over.
pub const RESTART_FRAMES: i64 = 16_384;

/// `PRAGMA wal_checkpoint(mode)`: (busy, frames in the WAL, frames copied).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

/// Runs until `stop` is dropped (or sent to): a checkpoint every `interval`,
/// the WAL started over past `restart_frames` ([`INTERVAL`] and
/// [`RESTART_FRAMES`] in the gateway).
pub(crate) fn run(conn: Connection, stop: Receiver<()>, interval: Duration, restart_frames: i64) {
    loop {
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let started = std::time::Instant::now();
        let passive = checkpoint(&conn, "PASSIVE");
        tracing::debug!(took = ?started.elapsed(), result = ?passive, "usage database checkpoint");
        match passive {
            Ok((_, frames, _)) if frames > restart_frames => {
                if let Err(e) = checkpoint(&conn, "RESTART") {
                    tracing::warn!("usage database checkpoint (restart) failed: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("usage database checkpoint failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_bytes(db: &std::path::Path) -> u64 {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    /// 3,000 commits grow a WAL nobody checkpoints to ~52 MB (measured); with
    /// the checkpointer restarting it past 64 frames it stayed under 10 MB
    /// (the bound leaves room for a slow machine).
    #[test]
    fn the_wal_is_started_over_once_it_passes_the_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.db");
        let writer = super::super::schema::open(&path).unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        let (stop, stopped) = std::sync::mpsc::channel();
        let conn = super::super::schema::connect(&path).unwrap();
        let checkpointer =
            std::thread::spawn(move || run(conn, stopped, Duration::from_millis(5), 64));
        let mut largest = 0;
        for i in 0..3_000 {
            writer
                .execute(
                    "INSERT INTO usage_records (request_id, user_id, project_id, status) VALUES (?1, 'u', 'p', 'completed')",
                    [format!("r{i:05}")],
                )
                .unwrap();
            largest = largest.max(wal_bytes(&path));
        }
        drop(stop);
        checkpointer.join().unwrap();
        assert!(largest > 0);
        assert!(
            largest < 24 * 1024 * 1024,
            "the WAL grew to {largest} bytes"
        );
    }
}
