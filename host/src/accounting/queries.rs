//! The `/usage/*` reads. Token and cost totals count **settled** usage only
//! (rows whose request ran); the seed added rejected rows' estimates.

use indexmap::IndexMap;
use rusqlite::{Connection, OpenFlags, params_from_iter, types::Value as Sql};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::Path;

/// Which rows a summary covers.
#[derive(Debug, Clone)]
pub enum Filter {
    All,
    Project(String),
    User(String),
}

/// Per-model settled totals (new in Tollgate).
#[derive(Debug, Serialize, Default, Clone, PartialEq)]
pub struct ModelTotals {
    pub records: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub cost_eur: f64,
}

/// `/usage/summary`, `/usage/project/{id}`, `/usage/user/{id}`: the seed's keys, plus `totals_by_model`.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub total_records: u64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    pub total_tokens: u64,
    pub total_estimated_cost_eur: f64,
    pub records_by_status: IndexMap<String, u64>,
    pub records_by_project: IndexMap<String, u64>,
    pub records_by_user: IndexMap<String, u64>,
    pub records_by_model: IndexMap<String, u64>,
    pub records_by_backend: IndexMap<String, u64>,
    pub totals_by_model: IndexMap<String, ModelTotals>,
}

/// Opens a read-only connection.
pub fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn clause(filter: &Filter) -> (&'static str, Vec<Sql>) {
    match filter {
        Filter::All => ("", vec![]),
        Filter::Project(p) => (" WHERE project_id = ?1", vec![Sql::Text(p.clone())]),
        Filter::User(u) => (" WHERE user_id = ?1", vec![Sql::Text(u.clone())]),
    }
}

/// A summary of the rows matching `filter`.
pub fn summary(conn: &Connection, filter: &Filter) -> rusqlite::Result<Summary> {
    let (w, args) = clause(filter);
    let (total_records, input, output, cost): (i64, i64, i64, i64) = conn.query_row(
        &format!(
            "SELECT COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
                    COALESCE(SUM(cost_nano_eur), 0) FROM usage_records{w}"
        ),
        params_from_iter(args.iter()),
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let group = |col: &str| -> rusqlite::Result<IndexMap<String, u64>> {
        let mut stmt = conn.prepare(&format!(
            "SELECT {col}, COUNT(*) FROM usage_records{w} {} {col} IS NOT NULL GROUP BY {col} ORDER BY {col}",
            if w.is_empty() { "WHERE" } else { "AND" }
        ))?;
        stmt.query_map(params_from_iter(args.iter()), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?
        .collect()
    };
    let mut totals_by_model = IndexMap::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT model, COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
                COALESCE(SUM(cost_nano_eur), 0)
         FROM usage_records{w} {} model IS NOT NULL GROUP BY model ORDER BY model",
        if w.is_empty() { "WHERE" } else { "AND" }
    ))?;
    let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
        let (i, o): (i64, i64) = (r.get(2)?, r.get(3)?);
        Ok((
            r.get::<_, String>(0)?,
            ModelTotals {
                records: r.get::<_, i64>(1)? as u64,
                input_tokens: i as u64,
                output_tokens: o as u64,
                total_tokens: (i + o) as u64,
                cost_eur: r.get::<_, i64>(4)? as f64 / 1e9,
            },
        ))
    })?;
    for row in rows {
        let (model, totals) = row?;
        totals_by_model.insert(model, totals);
    }
    Ok(Summary {
        total_records: total_records as u64,
        total_input_tokens: input as u64,
        total_output_tokens: output as u64,
        total_tokens: (input + output) as u64,
        total_estimated_cost_eur: cost as f64 / 1e9,
        records_by_status: group("status")?,
        records_by_project: group("project_id")?,
        records_by_user: group("user_id")?,
        records_by_model: group("model")?,
        records_by_backend: group("backend")?,
        totals_by_model,
    })
}

/// The `limit` newest rows, newest first, as JSON objects with every column.
pub fn recent(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<Value>> {
    let mut stmt = conn.prepare("SELECT * FROM usage_records ORDER BY id DESC LIMIT ?1")?;
    let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let rows = stmt.query_map([limit], |r| {
        let mut obj = Map::new();
        for (i, name) in names.iter().enumerate() {
            let v = match r.get::<_, Sql>(i)? {
                Sql::Null => Value::Null,
                Sql::Integer(n) => n.into(),
                Sql::Real(f) => f.into(),
                Sql::Text(t) => t.into(),
                Sql::Blob(_) => Value::Null,
            };
            obj.insert(name.clone(), v);
        }
        Ok(Value::Object(obj))
    })?;
    rows.collect()
}

/// One request as `/requests/{id}` shows it, from its usage row (for
/// requests no longer in the in-memory registry); `None` if unknown.
pub fn by_request_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<Value>> {
    let mut stmt = conn.prepare(
        "SELECT status, error_message, input_tokens, output_tokens, cost_nano_eur,
                estimated_input_tokens, estimated_output_tokens, estimated_cost_nano_eur,
                user_id, project_id, model, backend, request_type, priority, decision,
                latency_seconds, queue_wait_seconds, http_status, policy_versions, created_at, updated_at
         FROM usage_records WHERE request_id = ?1",
    )?;
    let mut rows = stmt.query([id])?;
    let Some(r) = rows.next()? else {
        return Ok(None);
    };
    let status: String = r.get(0)?;
    let settled = r.get::<_, Option<i64>>(2)?.is_some();
    let tokens = |settled_col: usize, estimate_col: usize| -> rusqlite::Result<Option<i64>> {
        Ok(if settled {
            r.get(settled_col)?
        } else {
            r.get(estimate_col)?
        })
    };
    let cost: Option<i64> = if settled { r.get(4)? } else { r.get(7)? };
    Ok(Some(serde_json::json!({
        "request_id": id,
        "status": status,
        "message": r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        "estimated_input_tokens": tokens(2, 5)?,
        "estimated_output_tokens": tokens(3, 6)?,
        "estimated_cost_eur": cost.map(|n| n as f64 / 1e9),
        "user_id": r.get::<_, Option<String>>(8)?,
        "project_id": r.get::<_, Option<String>>(9)?,
        "model": r.get::<_, Option<String>>(10)?,
        "backend_name": r.get::<_, Option<String>>(11)?,
        "request_type": r.get::<_, Option<String>>(12)?,
        "priority": r.get::<_, Option<String>>(13)?,
        "decision": r.get::<_, Option<String>>(14)?,
        "latency_seconds": r.get::<_, Option<f64>>(15)?,
        "queue_wait_seconds": r.get::<_, Option<f64>>(16)?,
        "http_status": r.get::<_, Option<i64>>(17)?,
        "policy_versions": r.get::<_, Option<String>>(18)?,
        "created_at": r.get::<_, Option<String>>(19)?,
        "updated_at": r.get::<_, Option<String>>(20)?,
        "source": "usage_database",
    })))
}
