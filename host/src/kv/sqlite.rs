//! The default store: SQLite on disk, in WAL mode, private to its owner.

use super::{Backend, Commits};
use anyhow::{Context, Result};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

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

/// How long a write waits out another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const UPSERT: &str = "INSERT INTO kv (bucket, key, value) VALUES (?1, ?2, ?3)
     ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value";

/// WAL size past which a one-call connection empties the WAL after its
/// commit. The next process to open the store reads and checksums the WAL
/// whole (the `-shm` index does not outlive the last connection), so the
/// WAL is kept to a few calls' writes (about 25 KB each).
const ONE_CALL_WAL_BOUND: u64 = 256 << 10;

pub struct Sqlite {
    connection: Mutex<Connection>,
    commits: Commits,
    wal: PathBuf,
}

impl Sqlite {
    /// For `pam-aws serve` and anything sharing the connection: every
    /// write is its own transaction.
    pub fn open(path: &Path) -> Result<Sqlite> {
        Self::open_with(path, Commits::EachWrite)
    }

    pub fn open_with(path: &Path, commits: Commits) -> Result<Sqlite> {
        create_private(path)?;
        let connection = Connection::open(path)
            .with_context(|| format!("opening the SQLite store {}", path.display()))?;
        // WAL lets a CLI call read while `serve` writes; the busy timeout waits out short locks.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        match commits {
            // Commits do not sync; the checkpoint when the last connection
            // closes does.
            Commits::EachWrite => connection.pragma_update(None, "synchronous", "NORMAL")?,
            // One transaction per call, synced at its commit: durable when
            // the call returns, so closing need not checkpoint (nor the
            // next call create and sync a new WAL). A checkpoint by a new
            // process would copy the whole WAL again (it cannot know what
            // the last one copied), so the WAL is emptied only past a bound.
            Commits::PerCall => {
                connection.pragma_update(None, "synchronous", "FULL")?;
                connection.pragma_update(None, "wal_autocheckpoint", 0)?;
                connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
            }
        }
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (
                bucket TEXT NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (bucket, key)
            ) WITHOUT ROWID;",
        )?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Sqlite {
            connection: Mutex::new(connection),
            commits,
            wal: wal.into(),
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written: keep going.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs one write operation all or nothing, holding the write lock
    /// (IMMEDIATE: other processes wait rather than interleave). Alone, it
    /// is a transaction of its own; in a call's transaction (begun here at
    /// its first write), a savepoint.
    fn write<T>(&self, operation: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut connection = self.connection();
        if self.commits == Commits::EachWrite {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let result = operation(&transaction)?;
            transaction.commit()?;
            return Ok(result);
        }
        if connection.is_autocommit() {
            connection.execute_batch("BEGIN IMMEDIATE")?;
        }
        let savepoint = connection.savepoint()?;
        let result = operation(&savepoint)?;
        savepoint.commit()?;
        Ok(result)
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
        self.write(|connection| {
            connection
                .prepare_cached(UPSERT)?
                .execute(params![bucket, key, value])?;
            Ok(())
        })
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.delete_many(bucket, &[key.to_string()])
    }

    fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64> {
        // Adding 0 is how a list's length is read: a read, which must not
        // take the write lock from the writers (or write the WAL).
        if delta == 0 {
            return super::counter_value(key, self.get(bucket, key)?.as_deref());
        }
        self.write(|connection| {
            let current: Option<Vec<u8>> = connection
                .prepare_cached("SELECT value FROM kv WHERE bucket = ?1 AND key = ?2")?
                .query_row(params![bucket, key], |row| row.get(0))
                .optional()?;
            let next = super::add(key, super::counter_value(key, current.as_deref())?, delta)?;
            connection.prepare_cached(UPSERT)?.execute(params![
                bucket,
                key,
                next.to_string().into_bytes()
            ])?;
            Ok(next)
        })
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
        self.write(|connection| {
            let mut statement = connection.prepare_cached(UPSERT)?;
            for (key, value) in entries {
                statement.execute(params![bucket, key, value])?;
            }
            Ok(())
        })
    }

    fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<()> {
        self.write(|connection| {
            let mut statement =
                connection.prepare_cached("DELETE FROM kv WHERE bucket = ?1 AND key = ?2")?;
            for key in keys {
                statement.execute(params![bucket, key])?;
            }
            Ok(())
        })
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

    /// Ends the call's transaction, if a write began one. A commit that
    /// fails is rolled back: the call's writes are all there, or none.
    fn commit(&self) -> Result<()> {
        // `serve` asks before every outgoing request: each write committed
        // already, so it need not wait for the connection all instances share.
        if self.commits == Commits::EachWrite {
            return Ok(());
        }
        let connection = self.connection();
        if connection.is_autocommit() {
            return Ok(());
        }
        if let Err(e) = connection.execute_batch("COMMIT") {
            let _ = connection.execute_batch("ROLLBACK");
            return Err(anyhow::Error::from(e).context("committing the call's writes"));
        }
        let wal_size = std::fs::metadata(&self.wal).map_or(0, |m| m.len());
        if wal_size > ONE_CALL_WAL_BOUND {
            // The writes are durable already: a checkpoint that would wait
            // for another process's readers is left to a later call.
            connection.busy_timeout(Duration::ZERO)?;
            let emptied = connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
            connection.busy_timeout(BUSY_TIMEOUT)?;
            match emptied {
                Ok(0) => {}
                Ok(_) => tracing::debug!("the WAL is in use by another connection; not emptied"),
                Err(e) => tracing::debug!("emptying the WAL: {e}"),
            }
        }
        Ok(())
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

    #[test]
    fn a_calls_writes_are_one_transaction_seen_by_others_only_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pam.db");
        let call = Sqlite::open_with(&path, Commits::PerCall).unwrap();
        exercise(&call);
        call.commit().unwrap();

        call.set("b", "session/1", b"s1").unwrap();
        assert_eq!(call.increment("b", "count/sessions", 1).unwrap(), 1);
        // An operation refused inside the call leaves its other writes.
        call.set("b", "text", b"not a counter").unwrap();
        assert!(call.increment("b", "text", 1).is_err());
        // The call reads its own writes; another process sees none yet.
        assert_eq!(
            call.get("b", "session/1").unwrap().as_deref(),
            Some(&b"s1"[..])
        );
        let other = Sqlite::open(&path).unwrap();
        assert_eq!(other.get("b", "session/1").unwrap(), None);
        assert_eq!(other.increment("b", "count/sessions", 0).unwrap(), 0);

        call.commit().unwrap();
        assert_eq!(
            other.get("b", "session/1").unwrap().as_deref(),
            Some(&b"s1"[..])
        );
        assert_eq!(
            other.get("b", "text").unwrap().as_deref(),
            Some(&b"not a counter"[..])
        );
        // Committing with nothing pending is nothing.
        call.commit().unwrap();
        drop((call, other));

        // Durable without the close-time checkpoint: a new process reads it.
        let reopened = Sqlite::open_with(&path, Commits::PerCall).unwrap();
        assert_eq!(reopened.increment("b", "count/sessions", 0).unwrap(), 1);
    }

    #[test]
    fn a_call_that_ends_without_committing_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pam.db");
        let call = Sqlite::open_with(&path, Commits::PerCall).unwrap();
        call.set_many("b", &[("session/1".into(), b"s1".to_vec())])
            .unwrap();
        drop(call);
        let after = Sqlite::open(&path).unwrap();
        assert_eq!(after.get("b", "session/1").unwrap(), None);
    }

    #[test]
    fn a_call_holds_the_write_lock_until_it_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pam.db");
        let call = Sqlite::open_with(&path, Commits::PerCall).unwrap();
        call.set("b", "k", b"call").unwrap();
        let other = Sqlite::open(&path).unwrap();
        other
            .connection()
            .busy_timeout(std::time::Duration::from_millis(50))
            .unwrap();
        let blocked = other.set("b", "k", b"other").unwrap_err();
        assert!(format!("{blocked:#}").contains("locked"), "{blocked:#}");
        call.commit().unwrap();
        other.set("b", "k", b"other").unwrap();
        assert_eq!(call.get("b", "k").unwrap().as_deref(), Some(&b"other"[..]));
    }

    #[test]
    fn one_call_processes_keep_the_wal_to_a_few_calls_and_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pam.db");
        let wal = dir.path().join("pam.db-wal");
        let calls = 100;
        let mut largest = 0;
        for n in 0..calls {
            let call = Sqlite::open_with(&path, Commits::PerCall).unwrap();
            let session = vec![b's'; 8 << 10];
            call.set("b", &format!("session/{n}"), &session).unwrap();
            call.increment("b", "count/sessions", 1).unwrap();
            call.commit().unwrap();
            drop(call);
            largest = largest.max(std::fs::metadata(&wal).unwrap().len());
        }
        // Without emptying, 100 calls' frames (over 1 MB) would pile up,
        // and every new process would read them all.
        assert!(
            largest < 2 * ONE_CALL_WAL_BOUND,
            "the WAL grew to {largest} bytes"
        );
        let after = Sqlite::open_with(&path, Commits::PerCall).unwrap();
        assert_eq!(after.increment("b", "count/sessions", 0).unwrap(), calls);
        assert_eq!(after.keys("b").unwrap().len(), calls as usize + 1);
    }

    #[test]
    fn a_wal_another_connection_reads_is_left_and_nothing_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pam.db");
        let reader = Sqlite::open(&path).unwrap();
        reader.set("b", "k", b"old").unwrap();
        let call = Sqlite::open_with(&path, Commits::PerCall).unwrap();
        // The reader's snapshot is pinned by an open read transaction.
        let pinned = reader.connection();
        pinned.execute_batch("BEGIN").unwrap();
        let _: i64 = pinned
            .query_row("SELECT count(*) FROM kv", [], |row| row.get(0))
            .unwrap();
        let started = std::time::Instant::now();
        call.set("b", "k", &vec![b'x'; 2 * ONE_CALL_WAL_BOUND as usize])
            .unwrap();
        call.commit().unwrap();
        // The checkpoint gave up at once rather than wait out the busy
        // timeout, and left the WAL as it was.
        assert!(started.elapsed() < BUSY_TIMEOUT / 2);
        let wal = || {
            std::fs::metadata(dir.path().join("pam.db-wal"))
                .unwrap()
                .len()
        };
        assert!(wal() > ONE_CALL_WAL_BOUND);
        pinned.execute_batch("COMMIT").unwrap();
        drop(pinned);
        assert_eq!(
            reader.get("b", "k").unwrap().unwrap().len(),
            2 * ONE_CALL_WAL_BOUND as usize
        );
        // The next call's commit, unhindered, empties it.
        call.set("b", "k2", b"v").unwrap();
        call.commit().unwrap();
        assert_eq!(wal(), 0);
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
