//! Schema and migrations. Each migration runs once, in order, inside a
//! transaction; `PRAGMA user_version` records how many have run. A released
//! migration is never edited: a change is a new entry at the end.

use rusqlite::{Connection, params};
use std::path::Path;

use super::{PoolRow, Recovered, iso8601};

/// Migrations, in order. Index + 1 is the schema version they lead to.
const MIGRATIONS: &[&str] = &[
    // 1: the seed's usage_records columns, plus exact money, estimates,
    // status/version bookkeeping and the policy pools.
    "CREATE TABLE usage_records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL,
        user_id TEXT, project_id TEXT, model TEXT, backend TEXT,
        request_type TEXT, priority TEXT, status TEXT, decision TEXT, degradation_level TEXT,
        input_tokens INTEGER, output_tokens INTEGER, total_tokens INTEGER, estimated_cost_eur REAL,
        latency_seconds REAL, queue_wait_seconds REAL, error_message TEXT,
        created_at TEXT, updated_at TEXT,
        version INTEGER NOT NULL DEFAULT 0,
        cost_nano_eur INTEGER,
        estimated_input_tokens INTEGER, estimated_output_tokens INTEGER, estimated_cost_nano_eur INTEGER,
        http_status INTEGER, policy_versions TEXT, actions TEXT,
        created_at_ms INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX usage_records_request_id ON usage_records(request_id);
    CREATE INDEX usage_records_project_id ON usage_records(project_id);
    CREATE INDEX usage_records_user_id ON usage_records(user_id);
    CREATE INDEX usage_records_created_at ON usage_records(created_at);
    CREATE INDEX usage_records_status ON usage_records(status);
    CREATE TABLE policy_pools (
        namespace TEXT NOT NULL,
        pool TEXT NOT NULL,
        used INTEGER NOT NULL,
        PRIMARY KEY (namespace, pool)
    );",
    // 2: fewer pages written per commit. The table is rebuilt without
    // AUTOINCREMENT (which rewrote sqlite_sequence on every insert; `id` is
    // still the rowid, increasing); the created_at index (no query uses it)
    // is gone; the status index only covers the rows still open (what
    // recovery looks for).
    "CREATE TABLE usage_records_v2 (
        id INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL,
        user_id TEXT, project_id TEXT, model TEXT, backend TEXT,
        request_type TEXT, priority TEXT, status TEXT, decision TEXT, degradation_level TEXT,
        input_tokens INTEGER, output_tokens INTEGER, total_tokens INTEGER, estimated_cost_eur REAL,
        latency_seconds REAL, queue_wait_seconds REAL, error_message TEXT,
        created_at TEXT, updated_at TEXT,
        version INTEGER NOT NULL DEFAULT 0,
        cost_nano_eur INTEGER,
        estimated_input_tokens INTEGER, estimated_output_tokens INTEGER, estimated_cost_nano_eur INTEGER,
        http_status INTEGER, policy_versions TEXT, actions TEXT,
        created_at_ms INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO usage_records_v2 SELECT * FROM usage_records;
    DROP TABLE usage_records;
    ALTER TABLE usage_records_v2 RENAME TO usage_records;
    CREATE UNIQUE INDEX usage_records_request_id ON usage_records(request_id);
    CREATE INDEX usage_records_project_id ON usage_records(project_id);
    CREATE INDEX usage_records_user_id ON usage_records(user_id);
    CREATE INDEX usage_records_open ON usage_records(status)
        WHERE status IN ('queued', 'processing');",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Opens the database in WAL mode and brings its schema up to date.
pub fn open(path: &Path) -> anyhow::Result<Connection> {
    let mut conn = Connection::open(path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A WAL that grew past this is truncated back when it starts over.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.busy_handler(Some(retry_soon))?;
    migrate(&mut conn).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(conn)
}

/// Another connection to a database [`open`] prepared (same settings, no migration).
pub fn connect(path: &Path) -> anyhow::Result<Connection> {
    let mut conn = Connection::open(path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_handler(Some(retry_soon))?;
    Ok(conn)
}

/// The busy handler of the writing connections: retry every 100 µs, for 5 s
/// at most. (SQLite's own sleeps 1, 2, 5, 10 … 100 ms between tries: a
/// writer held back for 2 ms by a checkpoint would wait 8.)
fn retry_soon(attempts: i32) -> bool {
    if attempts >= 50_000 {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_micros(100));
    true
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let version: usize =
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if version > SCHEMA_VERSION {
        anyhow::bail!(
            "schema version {version} is newer than this build understands ({SCHEMA_VERSION}); use a newer tollgate or another --db"
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Closes what a previous run left open and reads the persisted pools.
///
/// Requests still `queued` or `processing` cannot finish any more: they are
/// marked `failed` (their reservations were in memory and are gone, so they
/// use nothing). Settled pool totals are returned to be restored.
pub fn recover(conn: &mut Connection, now_ms: u64) -> anyhow::Result<Recovered> {
    let interrupted = conn.execute(
        "UPDATE usage_records SET status = 'failed',
            error_message = 'interrupted: the gateway stopped before this request finished',
            updated_at = ?1, version = version + 1
         WHERE status IN ('queued', 'processing')",
        params![iso8601(now_ms)],
    )?;
    let mut stmt = conn.prepare("SELECT namespace, pool, used FROM policy_pools")?;
    let pools = stmt
        .query_map([], |r| {
            Ok(PoolRow {
                namespace: r.get(0)?,
                pool: r.get(1)?,
                used: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Recovered { pools, interrupted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_database_keeps_its_rows_through_migration_2() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO usage_records (request_id, status, created_at_ms) VALUES ('r1', 'completed', 5)",
                [],
            )
            .unwrap();
        }
        let conn = open(&path).unwrap();
        let (id, status, ms): (i64, String, i64) = conn
            .query_row(
                "SELECT id, status, created_at_ms FROM usage_records WHERE request_id = 'r1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((id, status.as_str(), ms), (1, "completed", 5));
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_records' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            indexes,
            [
                "usage_records_open",
                "usage_records_project_id",
                "usage_records_request_id",
                "usage_records_user_id"
            ]
        );
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'usage_records'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!sql.contains("AUTOINCREMENT"), "{sql}");
    }

    #[test]
    fn migrates_once_and_refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.db");
        drop(open(&path).unwrap());
        let conn = open(&path).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, SCHEMA_VERSION);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = open(&path).unwrap_err().to_string();
        assert!(err.contains("schema version 99 is newer"), "{err}");
    }
}
