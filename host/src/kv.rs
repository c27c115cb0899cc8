//! `wasi:keyvalue/store` for the component, over a [`Backend`]: SQLite on
//! disk (the default), Redis (shared by several hosts) or memory. Buckets
//! are a column (SQLite), a hash (Redis) or part of the key (memory); the
//! component may open only the bucket it was given.

use crate::bindings::wasi::keyvalue::store::{self, KeyResponse};
use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use wasmtime::component::{HasData, Resource, ResourceTable};

/// A key-value backend shared by every instance of the component.
pub trait Backend: Send + Sync {
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>>;
    fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<()>;
    fn delete(&self, bucket: &str, key: &str) -> Result<()>;
    fn keys(&self, bucket: &str) -> Result<Vec<String>>;
}

/// Opens the store a `[store] url` names: `sqlite://PATH`, `redis://HOST:PORT/DB`
/// (or `rediss://`) or `memory:`. Relative SQLite paths are taken from
/// `base_dir` (the config file's folder).
pub fn open(url: &str, base_dir: &Path) -> Result<Arc<dyn Backend>> {
    if url == "memory:" {
        return Ok(Arc::new(Memory::default()));
    }
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        return Ok(Arc::new(Redis::open(url)?));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = base_dir.join(path);
        return Ok(Arc::new(Sqlite::open(&path)?));
    }
    anyhow::bail!(
        "store.url {:?} is not supported: use sqlite://PATH, redis://HOST:PORT/DB or memory:",
        redact_url(url)
    )
}

/// A store URL fit for a message: any password replaced by `***`, and
/// nothing at all when it does not parse (it might be a secret in itself).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(unparsable)".to_string(),
    }
}

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
            .query_row(
                "SELECT value FROM kv WHERE bucket = ?1 AND key = ?2",
                params![bucket, key],
                |row| row.get(0),
            )
            .optional()?;
        Ok(value)
    }

    fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<()> {
        self.connection().execute(
            "INSERT INTO kv (bucket, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value",
            params![bucket, key, value],
        )?;
        Ok(())
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.connection().execute(
            "DELETE FROM kv WHERE bucket = ?1 AND key = ?2",
            params![bucket, key],
        )?;
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

/// A Redis server: one hash per bucket (`pam-aws:{bucket}`), a field per key,
/// so several gateways and CLIs share one store.
pub struct Redis {
    connection: Mutex<redis::Connection>,
}

impl Redis {
    pub fn open(url: &str) -> Result<Redis> {
        // The client's own errors may quote the URL, password and all.
        let shown = redact_url(url);
        let client = redis::Client::open(url)
            .map_err(|_| anyhow::anyhow!("store.url {shown:?} is not a valid Redis URL"))?;
        let connection = client
            .get_connection_with_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| {
                anyhow::anyhow!(
                    "connecting to the Redis store {shown:?} failed ({:?})",
                    e.kind()
                )
            })?;
        Ok(Redis {
            connection: Mutex::new(connection),
        })
    }

    fn query<T: redis::FromRedisValue>(&self, command: &mut redis::Cmd) -> Result<T> {
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(command.query(&mut *connection)?)
    }
}

fn hash_name(bucket: &str) -> String {
    format!("pam-aws:{bucket}")
}

impl Backend for Redis {
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.query(redis::cmd("HGET").arg(hash_name(bucket)).arg(key))
    }

    fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<()> {
        self.query::<()>(
            redis::cmd("HSET")
                .arg(hash_name(bucket))
                .arg(key)
                .arg(value),
        )
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.query::<()>(redis::cmd("HDEL").arg(hash_name(bucket)).arg(key))
    }

    fn keys(&self, bucket: &str) -> Result<Vec<String>> {
        let mut keys: Vec<String> = self.query(redis::cmd("HKEYS").arg(hash_name(bucket)))?;
        keys.sort();
        Ok(keys)
    }
}

/// Process-lifetime store, for tests and throwaway runs.
#[derive(Default)]
pub struct Memory {
    entries: Mutex<BTreeMap<(String, String), Vec<u8>>>,
}

impl Memory {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Vec<u8>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Backend for Memory {
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .entries()
            .get(&(bucket.to_string(), key.to_string()))
            .cloned())
    }

    fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<()> {
        self.entries()
            .insert((bucket.to_string(), key.to_string()), value.to_vec());
        Ok(())
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.entries()
            .remove(&(bucket.to_string(), key.to_string()));
        Ok(())
    }

    fn keys(&self, bucket: &str) -> Result<Vec<String>> {
        Ok(self
            .entries()
            .keys()
            .filter(|(b, _)| b == bucket)
            .map(|(_, key)| key.clone())
            .collect())
    }
}

// ---- the WIT side ----

/// An open bucket, as the component holds it.
pub struct Bucket {
    name: String,
}

/// Errors returned to the component; backend details stay in the host's log.
pub enum KvError {
    NoSuchStore,
    Backend(anyhow::Error),
    Trap(wasmtime::Error),
}

impl From<wasmtime::component::ResourceTableError> for KvError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        KvError::Trap(wasmtime::Error::new(e))
    }
}

impl From<anyhow::Error> for KvError {
    fn from(e: anyhow::Error) -> Self {
        KvError::Backend(e)
    }
}

/// What the keyvalue host functions see of the store's data.
pub struct KvView<'a> {
    pub table: &'a mut ResourceTable,
    pub backend: &'a Arc<dyn Backend>,
    pub allowed_bucket: &'a str,
}

impl store::Host for KvView<'_> {
    fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvError> {
        if identifier != self.allowed_bucket {
            return Err(KvError::NoSuchStore);
        }
        Ok(self.table.push(Bucket { name: identifier })?)
    }

    fn convert_error(&mut self, error: KvError) -> wasmtime::Result<store::Error> {
        match error {
            KvError::NoSuchStore => Ok(store::Error::NoSuchStore),
            KvError::Backend(e) => {
                tracing::error!(error = %e, "key-value store failed");
                Ok(store::Error::Other(format!("the host's store failed: {e}")))
            }
            KvError::Trap(e) => Err(e),
        }
    }
}

impl store::HostBucket for KvView<'_> {
    fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, KvError> {
        let name = &self.table.get(&bucket)?.name;
        Ok(self.backend.get(name, &key)?)
    }

    fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KvError> {
        let name = &self.table.get(&bucket)?.name;
        Ok(self.backend.set(name, &key, &value)?)
    }

    fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), KvError> {
        let name = &self.table.get(&bucket)?.name;
        Ok(self.backend.delete(name, &key)?)
    }

    fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Result<bool, KvError> {
        let name = &self.table.get(&bucket)?.name;
        Ok(self.backend.get(name, &key)?.is_some())
    }

    fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<KeyResponse, KvError> {
        // One page holds every key; a cursor past the start yields nothing.
        let name = &self.table.get(&bucket)?.name;
        let keys = if cursor.unwrap_or(0) == 0 {
            self.backend.keys(name)?
        } else {
            Vec::new()
        };
        Ok(KeyResponse { keys, cursor: None })
    }

    fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

struct HasKv;

impl HasData for HasKv {
    type Data<'a> = KvView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> KvView<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasKv>(linker, view)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(backend: &dyn Backend) {
        backend.set("b", "resource/a", b"1").unwrap();
        backend.set("b", "resource/b", b"2").unwrap();
        backend.set("other", "resource/c", b"3").unwrap();
        backend.set("b", "resource/a", b"one").unwrap();
        assert_eq!(
            backend.get("b", "resource/a").unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(backend.keys("b").unwrap(), ["resource/a", "resource/b"]);
        backend.delete("b", "resource/a").unwrap();
        assert_eq!(backend.get("b", "resource/a").unwrap(), None);
        assert_eq!(backend.keys("other").unwrap(), ["resource/c"]);
    }

    #[test]
    fn memory_keeps_buckets_apart() {
        exercise(&Memory::default());
    }

    #[test]
    fn sqlite_keeps_buckets_apart_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pam.db");
        exercise(&Sqlite::open(&path).unwrap());
        let reopened = Sqlite::open(&path).unwrap();
        assert_eq!(
            reopened.get("b", "resource/b").unwrap().as_deref(),
            Some(&b"2"[..])
        );
    }

    #[test]
    fn unknown_store_urls_are_refused() {
        let err = open("postgres://x", Path::new(".")).err().unwrap();
        assert!(err.to_string().contains("store.url"));
    }

    #[test]
    fn store_errors_never_show_a_password() {
        for url in [
            "postgres://admin:hunter2-secret@db:5432/x",
            "redis://:hunter2-secret@127.0.0.1:1/0",
            "redis://admin:hunter2-secret@[bad",
        ] {
            let err = open(url, Path::new(".")).err().unwrap();
            let message = format!("{err:#} {err:?}");
            assert!(message.contains("store"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
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
