//! The default store: SQLite on disk, in WAL mode, private to its owner.

use super::Backend;
use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::Mutex;

/// Creates the SQLite file readable by its owner only (SQLite gives its
/// `-wal` and `-shm` files the same mode).
fn create_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating the SQLite store {}", path.display()))?;
        }
    }
    Ok(())
}

const UPSERT: &str = "INSERT INTO kv (bucket, key, value) VALUES (?1, ?2, ?3)
     ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value";

pub struct Sqlite {
    connection: Mutex<Connection>,
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite> {
        create_private(path)?;
        let connection = Connection::open(path)
            .with_context(|| format!("opening the SQLite store {}", path.display()))?;
        // WAL lets a CLI call read while `serve` writes; the busy timeout waits out short locks.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (
                bucket TEXT NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (bucket, key)
            ) WITHOUT ROWID;",
        )?;
        Ok(Sqlite {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written: keep going.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Backend for Sqlite {
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let value = self
            .connection()
            .prepare_cached("SELECT value FROM kv WHERE bucket = ?1 AND key = ?2")?
            .query_row(params![bucket, key], |row| row.get(0))
            .optional()?;
        Ok(value)
    }

    fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<()> {
        self.connection()
            .prepare_cached(UPSERT)?
            .execute(params![bucket, key, value])?;
        Ok(())
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.connection().execute(
            "DELETE FROM kv WHERE bucket = ?1 AND key = ?2",
            params![bucket, key],
        )?;
        Ok(())
    }

    fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64> {
        // Adding 0 is how a list's length is read: a read, which must not
        // take the write lock from the writers (or write the WAL).
        if delta == 0 {
            return super::counter_value(key, self.get(bucket, key)?.as_deref());
        }
        let mut connection = self.connection();
        // IMMEDIATE takes the write lock first: other processes wait, not interleave.
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<Vec<u8>> = transaction
            .query_row(
                "SELECT value FROM kv WHERE bucket = ?1 AND key = ?2",
                params![bucket, key],
                |row| row.get(0),
            )
            .optional()?;
        let next = super::add(key, super::counter_value(key, current.as_deref())?, delta)?;
        transaction.execute(UPSERT, params![bucket, key, next.to_string().into_bytes()])?;
        transaction.commit()?;
        Ok(next)
    }

    fn get_many(&self, bucket: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let connection = self.connection();
        let mut statement =
            connection.prepare_cached("SELECT value FROM kv WHERE bucket = ?1 AND key = ?2")?;
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(
                statement
                    .query_row(params![bucket, key], |row| row.get(0))
                    .optional()?,
            );
        }
        Ok(values)
    }

    fn set_many(&self, bucket: &str, entries: &[(String, Vec<u8>)]) -> Result<()> {
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut statement = transaction.prepare_cached(UPSERT)?;
            for (key, value) in entries {
                statement.execute(params![bucket, key, value])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<()> {
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut statement =
                transaction.prepare_cached("DELETE FROM kv WHERE bucket = ?1 AND key = ?2")?;
            for key in keys {
                statement.execute(params![bucket, key])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    fn keys(&self, bucket: &str) -> Result<Vec<String>> {
        let connection = self.connection();
        let mut statement =
            connection.prepare_cached("SELECT key FROM kv WHERE bucket = ?1 ORDER BY key")?;
        let keys = statement
            .query_map(params![bucket], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::tests::exercise;

    #[test]
    fn sqlite_keeps_buckets_apart_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pam.db");
        exercise(&Sqlite::open(&path).unwrap());
        // Two connections, as two processes on one file would have.
        let shared = std::sync::Arc::new(Sqlite::open(&path).unwrap());
        let other = Sqlite::open(&path).unwrap();
        other.increment("b", "count/race", 7).unwrap();
        assert_eq!(shared.increment("b", "count/race", 0).unwrap(), 7);
        other.delete("b", "count/race").unwrap();
        crate::kv::tests::increments_are_atomic(shared);
        let reopened = Sqlite::open(&path).unwrap();
        assert_eq!(
            reopened.get("b", "resource/b").unwrap().as_deref(),
            Some(&b"2"[..])
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_sqlite_store_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pam.db");
        let store = Sqlite::open(&path).unwrap();
        store.set("b", "k", b"v").unwrap();
        for file in ["pam.db", "pam.db-wal", "pam.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{file} is {mode:o}");
        }
    }
}
