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
}
