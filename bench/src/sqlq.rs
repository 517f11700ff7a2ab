//! The baseline: a FIFO queue on SQLite as analytics SDKs build it. WAL,
//! `synchronous=NORMAL` (a committed row survives a process kill, as a hit
//! in offtrack's journal does), one row per hit, one INSERT per call,
//! select-oldest + delete to drain.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

pub struct SqlQueue {
    conn: Connection,
}

pub struct Row {
    pub id: i64,
    pub url: String,
    pub created_ms: i64,
}

impl SqlQueue {
    pub fn open(path: &Path) -> SqlQueue {
        let conn = Connection::open(path).expect("open sqlite");
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS hits (
                id INTEGER PRIMARY KEY,
                url TEXT NOT NULL,
                created_ms INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0)",
        )
        .unwrap();
        SqlQueue { conn }
    }

    pub fn push(&self, url: &str, created_ms: i64) {
        self.conn
            .prepare_cached("INSERT INTO hits (url, created_ms) VALUES (?1, ?2)")
            .unwrap()
            .execute(params![url, created_ms])
            .unwrap();
    }

    pub fn head(&self) -> Option<Row> {
        self.conn
            .prepare_cached("SELECT id, url, created_ms FROM hits ORDER BY id LIMIT 1")
            .unwrap()
            .query_row([], |r| {
                Ok(Row {
                    id: r.get(0)?,
                    url: r.get(1)?,
                    created_ms: r.get(2)?,
                })
            })
            .optional()
            .unwrap()
    }

    pub fn remove(&self, id: i64) {
        self.conn
            .prepare_cached("DELETE FROM hits WHERE id = ?1")
            .unwrap()
            .execute([id])
            .unwrap();
    }

    pub fn count(&self) -> u64 {
        self.conn
            .query_row("SELECT count(*) FROM hits", [], |r| r.get::<_, i64>(0))
            .unwrap() as u64
    }
}
