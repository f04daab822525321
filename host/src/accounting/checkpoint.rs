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

/// Runs until `stop` is dropped (or sent to).
pub(crate) fn run(conn: Connection, stop: Receiver<()>) {
    loop {
        match stop.recv_timeout(INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let started = std::time::Instant::now();
        let passive = checkpoint(&conn, "PASSIVE");
        tracing::debug!(took = ?started.elapsed(), result = ?passive, "usage database checkpoint");
        match passive {
            Ok((_, frames, _)) if frames > RESTART_FRAMES => {
                if let Err(e) = checkpoint(&conn, "RESTART") {
                    tracing::warn!("usage database checkpoint (restart) failed: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("usage database checkpoint failed: {e}"),
        }
    }
}
