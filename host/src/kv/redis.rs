//! A Redis (or Valkey) server, shared by several hosts.

use super::{Backend, redact_url};
use anyhow::Result;
use std::sync::Mutex;

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
