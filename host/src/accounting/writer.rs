//! The writer thread: receives batches, commits them together in one
//! transaction, then acknowledges them.
//!
//! Snapshots sent without an acknowledgement (a request's `processing`
//! state) wait up to [`DEFER`] in memory: if a newer snapshot of the same
//! request arrives first (a request that ran and finished in the meantime),
//! only the newer one is written. Each row written costs a page in the table
//! and one in every index of the WAL, so most short requests write one row
//! instead of two. An acknowledged snapshot (a terminal state, a queued
//! request's answer) is committed before its acknowledgement, as before.

use rusqlite::{Connection, params};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use super::{Batch, UsageRow, iso8601};

/// Batches committed in one transaction at most.
const MAX_BATCHES_PER_COMMIT: usize = 4096;

/// The shortest time between the starts of two commits. Under load, rows
/// that arrive during this gap share one commit: a commit writes every page
/// it touched to the WAL (the table's and each index's last page) whether it
/// carries one row or fifty, so fewer, larger commits cost far less. An idle
/// writer commits at once.
pub const COMMIT_GAP: Duration = Duration::from_micros(250);

/// How long an unacknowledged snapshot may wait to be superseded before it
/// is written anyway.
pub const DEFER: Duration = Duration::from_millis(100);

const UPSERT: &str = "INSERT INTO usage_records (
        request_id, version, user_id, project_id, model, backend, request_type, priority, status, decision,
        degradation_level, input_tokens, output_tokens, total_tokens, estimated_cost_eur, cost_nano_eur,
        estimated_input_tokens, estimated_output_tokens, estimated_cost_nano_eur, latency_seconds,
        queue_wait_seconds, error_message, http_status, policy_versions, actions, created_at, updated_at, created_at_ms)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)
    ON CONFLICT(request_id) DO UPDATE SET
        version = excluded.version, model = excluded.model, backend = excluded.backend, priority = excluded.priority,
        status = excluded.status, decision = excluded.decision, degradation_level = excluded.degradation_level,
        input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, total_tokens = excluded.total_tokens,
        estimated_cost_eur = excluded.estimated_cost_eur, cost_nano_eur = excluded.cost_nano_eur,
        estimated_input_tokens = excluded.estimated_input_tokens, estimated_output_tokens = excluded.estimated_output_tokens,
        estimated_cost_nano_eur = excluded.estimated_cost_nano_eur, latency_seconds = excluded.latency_seconds,
        queue_wait_seconds = excluded.queue_wait_seconds, error_message = excluded.error_message,
        http_status = excluded.http_status, policy_versions = excluded.policy_versions, actions = excluded.actions,
        updated_at = excluded.updated_at
    WHERE excluded.version > usage_records.version";

const POOL: &str = "INSERT INTO policy_pools (namespace, pool, used) VALUES (?1, ?2, ?3)
    ON CONFLICT(namespace, pool) DO UPDATE SET used = excluded.used";

/// Unacknowledged snapshots waiting to be superseded or written, newest per
/// request, with their arrival order.
#[derive(Default)]
struct Deferred {
    rows: HashMap<String, (UsageRow, Instant)>,
    order: VecDeque<(Instant, String)>,
}

impl Deferred {
    /// Keeps `row` unless a newer snapshot of its request is waiting; the
    /// request keeps its first arrival time, so updates cannot starve it.
    fn put(&mut self, row: UsageRow, now: Instant) {
        match self.rows.get_mut(&row.request_id) {
            Some((kept, _)) => {
                if row.version > kept.version {
                    *kept = row;
                }
            }
            None => {
                self.order.push_back((now, row.request_id.clone()));
                self.rows.insert(row.request_id.clone(), (row, now));
            }
        }
    }

    /// Drops what `row` (about to be written) supersedes.
    fn supersede(&mut self, row: &UsageRow) {
        if self
            .rows
            .get(&row.request_id)
            .is_some_and(|(kept, _)| kept.version <= row.version)
        {
            self.rows.remove(&row.request_id);
        }
    }

    /// When the oldest waiting snapshot is due.
    fn next_due(&self) -> Option<Instant> {
        self.order.front().map(|(t, _)| *t + DEFER)
    }

    /// Takes the snapshots due at `now` (all of them with `all`).
    fn take_due(&mut self, now: Instant, all: bool) -> Vec<UsageRow> {
        let mut due = Vec::new();
        while let Some((since, _)) = self.order.front() {
            if !all && *since + DEFER > now {
                break;
            }
            let Some((since, id)) = self.order.pop_front() else {
                break;
            };
            // Skip entries whose row was superseded (and maybe deferred again later).
            if self.rows.get(&id).is_some_and(|(_, t)| *t == since)
                && let Some((row, _)) = self.rows.remove(&id)
            {
                due.push(row);
            }
        }
        due
    }
}

/// What the receive loop got.
enum Received {
    Batch(Batch),
    /// The oldest deferred snapshot is due.
    Due,
    /// Every sender is gone.
    Closed,
}

fn receive(
    rt: &tokio::runtime::Runtime,
    rx: &mut mpsc::Receiver<Batch>,
    due: Option<Instant>,
) -> Received {
    let got = match due {
        None => rx.blocking_recv(),
        Some(due) => {
            match rt.block_on(async { tokio::time::timeout_at(due.into(), rx.recv()).await }) {
                Ok(got) => got,
                Err(_) => return Received::Due,
            }
        }
    };
    got.map_or(Received::Closed, Received::Batch)
}

/// Runs until the channel closes or a stop batch arrives. `rt` (a
/// current-thread runtime with time) serves the timed receives.
pub(crate) fn run(
    conn: &mut Connection,
    mut rx: mpsc::Receiver<Batch>,
    rt: tokio::runtime::Runtime,
) {
    let mut batches: Vec<Batch> = Vec::with_capacity(64);
    let mut deferred = Deferred::default();
    let mut last_commit = Instant::now()
        .checked_sub(COMMIT_GAP)
        .unwrap_or_else(Instant::now);
    loop {
        let mut stop = match receive(&rt, &mut rx, deferred.next_due()) {
            Received::Batch(first) => {
                let stop = first.stop;
                batches.push(first);
                stop
            }
            Received::Due => false,
            Received::Closed => true,
        };
        let gap = last_commit.elapsed();
        if !stop && gap < COMMIT_GAP {
            // Busy: let a few more rows join this commit.
            std::thread::sleep(COMMIT_GAP - gap);
        }
        while !stop && batches.len() < MAX_BATCHES_PER_COMMIT {
            match rx.try_recv() {
                Ok(b) => {
                    stop = b.stop;
                    batches.push(b);
                }
                Err(_) => break,
            }
        }
        let now = Instant::now();
        // Unacknowledged rows wait; acknowledged ones supersede them.
        batches.retain_mut(|b| {
            if b.ack.is_none() && b.pools.is_empty() && b.prune_before_ms.is_none() && !b.stop {
                for row in b.rows.drain(..) {
                    deferred.put(row, now);
                }
                false
            } else {
                b.rows.iter().for_each(|r| deferred.supersede(r));
                true
            }
        });
        let written = deferred.take_due(now, stop);
        if batches.is_empty() && written.is_empty() {
            if stop {
                break;
            }
            continue;
        }
        last_commit = Instant::now();
        let result = commit(conn, &written, &batches)
            .map_err(|e| format!("usage database write failed: {e}"));
        if let Err(e) = &result {
            tracing::error!("{e}");
        }
        for b in batches.drain(..) {
            if let Some(ack) = b.ack {
                let _ = ack.send(result.clone());
            }
        }
        if stop {
            break;
        }
    }
}

/// The newest snapshot's version of every request: an older snapshot in the
/// same transaction would be overwritten before anyone could read it, so it
/// is not written at all.
fn newest<'a>(rows: impl Iterator<Item = &'a UsageRow>) -> HashMap<&'a str, u32> {
    let mut newest = HashMap::new();
    for r in rows {
        let v = newest.entry(r.request_id.as_str()).or_insert(r.version);
        *v = (*v).max(r.version);
    }
    newest
}

fn commit(conn: &mut Connection, deferred: &[UsageRow], batches: &[Batch]) -> rusqlite::Result<()> {
    let rows = || deferred.iter().chain(batches.iter().flat_map(|b| &b.rows));
    let newest = newest(rows());
    let tx = conn.transaction()?;
    {
        let mut upsert = tx.prepare_cached(UPSERT)?;
        let mut pool = tx.prepare_cached(POOL)?;
        for r in rows() {
            if newest.get(r.request_id.as_str()) == Some(&r.version) {
                upsert_row(&mut upsert, r)?;
            }
        }
        for b in batches {
            for p in &b.pools {
                pool.execute(params![p.namespace, p.pool, p.used as i64])?;
            }
            if let Some(before) = b.prune_before_ms {
                tx.execute(
                    "DELETE FROM usage_records WHERE created_at_ms < ?1
                     AND status IN ('completed', 'failed', 'rejected', 'timed_out')",
                    params![before as i64],
                )?;
            }
        }
    }
    tx.commit()
}

fn upsert_row(stmt: &mut rusqlite::CachedStatement<'_>, r: &UsageRow) -> rusqlite::Result<usize> {
    let total = match (r.input_tokens, r.output_tokens) {
        (Some(i), Some(o)) => Some(i as i64 + o as i64),
        _ => None,
    };
    stmt.execute(params![
        r.request_id,
        r.version,
        r.user_id,
        r.project_id,
        r.model,
        r.backend,
        r.request_type,
        r.priority,
        r.status,
        r.decision,
        r.degradation_level,
        r.input_tokens,
        r.output_tokens,
        total,
        r.cost_nano_eur.map(|n| n as f64 / 1e9),
        r.cost_nano_eur.map(|n| n as i64),
        r.estimated_input_tokens,
        r.estimated_output_tokens,
        r.estimated_cost_nano_eur.map(|n| n as i64),
        r.latency_seconds,
        r.queue_wait_seconds,
        r.error_message,
        r.http_status,
        r.policy_versions,
        r.actions,
        iso8601(r.created_at_ms),
        iso8601(r.updated_at_ms),
        r.created_at_ms as i64,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, version: u32, status: &str) -> UsageRow {
        UsageRow {
            request_id: id.into(),
            version,
            status: status.into(),
            ..Default::default()
        }
    }

    fn batch(rows: Vec<UsageRow>) -> Batch {
        Batch {
            rows,
            ..Batch::default()
        }
    }

    fn status(conn: &Connection, id: &str) -> Option<String> {
        conn.query_row(
            "SELECT status FROM usage_records WHERE request_id = ?1",
            [id],
            |r| r.get(0),
        )
        .ok()
    }

    #[test]
    fn only_the_newest_snapshot_of_a_request_is_written_per_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = super::super::schema::open(&dir.path().join("u.db")).unwrap();
        let batches = vec![
            batch(vec![row("a", 0, "processing"), row("b", 0, "queued")]),
            batch(vec![row("a", 1, "completed")]),
        ];
        let before = conn.total_changes();
        commit(&mut conn, &[], &batches).unwrap();
        // Two rows written, not three: a's processing snapshot was skipped.
        assert_eq!(conn.total_changes() - before, 2);
        assert_eq!(status(&conn, "a").as_deref(), Some("completed"));
        // An older snapshot in a later commit does not overwrite a newer one.
        commit(&mut conn, &[row("a", 0, "processing")], &[]).unwrap();
        assert_eq!(status(&conn, "a").as_deref(), Some("completed"));
    }

    #[test]
    fn deferred_snapshots_are_superseded_or_come_due() {
        let t0 = Instant::now();
        let mut d = Deferred::default();
        d.put(row("a", 0, "processing"), t0);
        d.put(row("b", 0, "processing"), t0 + Duration::from_millis(10));
        assert_eq!(d.next_due(), Some(t0 + DEFER));
        // a finished: its terminal row supersedes the waiting one.
        d.supersede(&row("a", 1, "completed"));
        assert!(d.take_due(t0 + DEFER, false).is_empty());
        // b is due 10 ms later; nothing is taken before.
        let later = t0 + DEFER + Duration::from_millis(10);
        let due = d.take_due(later, false);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].request_id, "b");
        assert_eq!(d.next_due(), None);
        // A newer deferred snapshot replaces an older one but keeps its arrival time.
        d.put(row("c", 0, "queued"), t0);
        d.put(row("c", 1, "processing"), later);
        let due = d.take_due(t0 + DEFER, false);
        assert_eq!((due.len(), due[0].version), (1, 1));
        // Closing takes everything, due or not.
        d.put(row("e", 0, "processing"), later);
        assert_eq!(d.take_due(later, true).len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unacknowledged_row_is_written_after_the_deferral_and_at_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.db");
        let (acc, _) = super::super::Accounting::open(&path, 0).unwrap();
        acc.send(vec![row("p", 0, "processing")]).await;
        // Not written at once (an undeferred row would be committed well
        // within these 20 ms)...
        let read = super::super::schema::open(&path).unwrap();
        tokio::time::sleep(DEFER / 5).await;
        assert_eq!(status(&read, "p"), None);
        // ...but after DEFER, with no other traffic.
        tokio::time::sleep(DEFER * 3).await;
        assert_eq!(status(&read, "p").as_deref(), Some("processing"));
        // A deferred row still waiting at close is written by close.
        acc.send(vec![row("q", 0, "processing")]).await;
        acc.close().await;
        assert_eq!(status(&read, "q").as_deref(), Some("processing"));
    }
}
