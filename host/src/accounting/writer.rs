//! The writer thread: receives batches, commits them together in one
//! transaction, then acknowledges them.

use rusqlite::{Connection, params};
use tokio::sync::mpsc;

use super::{Batch, UsageRow, iso8601};

/// Batches committed in one transaction at most.
const MAX_BATCHES_PER_COMMIT: usize = 4096;

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

/// Runs until the channel closes or a stop batch arrives.
pub(crate) fn run(mut conn: Connection, mut rx: mpsc::Receiver<Batch>) {
    let mut batches = Vec::with_capacity(64);
    while let Some(first) = rx.blocking_recv() {
        batches.push(first);
        while batches.len() < MAX_BATCHES_PER_COMMIT && !batches.last().is_some_and(|b| b.stop) {
            match rx.try_recv() {
                Ok(b) => batches.push(b),
                Err(_) => break,
            }
        }
        let result =
            commit(&mut conn, &batches).map_err(|e| format!("usage database write failed: {e}"));
        if let Err(e) = &result {
            tracing::error!("{e}");
        }
        let stop = batches.iter().any(|b| b.stop);
        for b in batches.drain(..) {
            if let Some(ack) = b.ack {
                let _ = ack.send(result.clone());
            }
        }
        if stop {
            break;
        }
    }
    let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
}

fn commit(conn: &mut Connection, batches: &[Batch]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut upsert = tx.prepare_cached(UPSERT)?;
        let mut pool = tx.prepare_cached(POOL)?;
        for b in batches {
            for r in &b.rows {
                upsert_row(&mut upsert, r)?;
            }
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
