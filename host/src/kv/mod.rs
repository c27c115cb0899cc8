//! `wasi:keyvalue/store` for the component, over a [`Backend`]: SQLite on
//! disk (the default), Redis (shared by several hosts) or memory, one file
//! each. Buckets are a column (SQLite), a hash (Redis) or part of the key
//! (memory); the component may open only the bucket it was given (`wit.rs`).

mod memory;
mod redis;
mod sqlite;
mod wit;

pub use memory::Memory;
pub use redis::Redis;
pub use sqlite::Sqlite;
pub use wit::{Bucket, KvError, KvView, add_to_linker};

use anyhow::Result;
use std::path::Path;
use std::sync::Arc;

/// A key-value backend shared by every instance of the component (and,
/// for SQLite and Redis, by every process on the store). Counters are
/// decimal text, as upstream `wasmtime serve` keeps them.
pub trait Backend: Send + Sync {
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>>;
    fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<()>;
    fn delete(&self, bucket: &str, key: &str) -> Result<()>;
    fn keys(&self, bucket: &str) -> Result<Vec<String>>;
    /// Adds `delta` to the counter at `key` (missing is 0), atomically
    /// across processes; a value that is not a counter is an error.
    fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64>;
    fn get_many(&self, bucket: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>>;
    /// All or nothing: one transaction (SQLite, memory) or one command (Redis).
    fn set_many(&self, bucket: &str, entries: &[(String, Vec<u8>)]) -> Result<()>;
    fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<()>;
    /// Makes what this call wrote durable, where writes wait for it
    /// ([`Commits::PerCall`]); elsewhere each write already was.
    fn commit(&self) -> Result<()> {
        Ok(())
    }
}

/// When a store's writes are committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commits {
    /// Each write on its own: `pam-aws serve`, whose instances share one connection.
    EachWrite,
    /// A CLI call's writes together, in one transaction synced once, which
    /// the host commits before a request leaves (no lock is held across the
    /// network) and when the call ends. Only SQLite waits; Redis and memory
    /// write at once.
    PerCall,
}

/// A counter's stored text as a number.
fn counter_value(key: &str, value: Option<&[u8]>) -> Result<u64> {
    let Some(bytes) = value else { return Ok(0) };
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("{key} holds a value that is not a counter"))
}

fn add(key: &str, current: u64, delta: u64) -> Result<u64> {
    current
        .checked_add(delta)
        .ok_or_else(|| anyhow::anyhow!("incrementing {key} would overflow"))
}

/// Opens the store a `[store] url` names: `sqlite://PATH`, `redis://HOST:PORT/DB`
/// (or `rediss://`) or `memory:`. Relative SQLite paths are taken from
/// `base_dir` (the config file's folder).
pub fn open(url: &str, base_dir: &Path) -> Result<Arc<dyn Backend>> {
    open_with(url, base_dir, Commits::EachWrite)
}

/// [`open`], committing as `commits` says.
pub fn open_with(url: &str, base_dir: &Path, commits: Commits) -> Result<Arc<dyn Backend>> {
    if url == "memory:" {
        return Ok(Arc::new(Memory::default()));
    }
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        return Ok(Arc::new(Redis::open(url)?));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = base_dir.join(path);
        return Ok(Arc::new(Sqlite::open_with(&path, commits)?));
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What every backend must do: keep buckets apart, overwrite, delete, list sorted.
    pub(crate) fn exercise(backend: &dyn Backend) {
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

        // Atomics: counters start at 0, `0` reads, a non-counter is refused.
        assert_eq!(backend.increment("b", "count/x", 0).unwrap(), 0);
        assert_eq!(backend.increment("b", "count/x", 1).unwrap(), 1);
        assert_eq!(backend.increment("b", "count/x", 41).unwrap(), 42);
        assert_eq!(backend.increment("other", "count/x", 1).unwrap(), 1);
        assert_eq!(
            backend.get("b", "count/x").unwrap().as_deref(),
            Some(&b"42"[..])
        );
        backend.set("b", "text", b"hello").unwrap();
        let err = backend.increment("b", "text", 1).unwrap_err();
        assert!(err.to_string().contains("not a counter"), "{err}");
        assert_eq!(
            backend.get("b", "text").unwrap().as_deref(),
            Some(&b"hello"[..])
        );

        // Batch: values in the order asked, missing ones as None.
        let entries = vec![
            ("k/1".to_string(), b"one".to_vec()),
            ("k/2".to_string(), b"two".to_vec()),
        ];
        backend.set_many("b", &entries).unwrap();
        backend.set_many("b", &[]).unwrap();
        let keys = ["k/2", "k/none", "k/1"].map(String::from);
        assert_eq!(
            backend.get_many("b", &keys).unwrap(),
            [Some(b"two".to_vec()), None, Some(b"one".to_vec())]
        );
        assert_eq!(
            backend.get_many("other", &keys).unwrap(),
            [None, None, None]
        );
        backend
            .delete_many("b", &["k/1".to_string(), "k/none".to_string()])
            .unwrap();
        assert_eq!(
            backend.get_many("b", &keys).unwrap(),
            [Some(b"two".to_vec()), None, None]
        );
    }

    /// Many threads incrementing one counter never hand out a value twice.
    pub(crate) fn increments_are_atomic(backend: std::sync::Arc<dyn Backend>) {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let backend = backend.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|_| backend.increment("b", "count/race", 1).unwrap())
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        let mut seen: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (1..=200).collect::<Vec<u64>>());
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
            // Redis connects on first use: the error may come from there.
            let err = match open(url, Path::new(".")) {
                Err(e) => e,
                Ok(store) => store.get("b", "k").unwrap_err(),
            };
            let message = format!("{err:#} {err:?}");
            assert!(message.contains("store"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
