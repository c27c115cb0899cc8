//! A Redis (or Valkey) server, shared by several hosts.

use super::{Backend, redact_url};
use anyhow::{Result, anyhow};
use std::sync::Mutex;
use std::time::Duration;

/// How long to wait for Redis to connect or answer before the request
/// fails (503 through `serve`) rather than hangs.
const TIMEOUT: Duration = Duration::from_secs(3);

/// A Redis server: one hash per bucket (`pam-aws:{bucket}`), a field per
/// key, so several gateways and CLIs share one store. `rediss://` is TLS
/// (system roots, or `SSL_CERT_FILE`); a password in the URL is AUTH.
///
/// The connection is made on first use and again after Redis went away,
/// so a host keeps running through a Redis restart: requests fail while
/// it is down and succeed once it is back.
pub struct Redis {
    client: redis::Client,
    /// The URL without its password, for messages.
    shown: String,
    connection: Mutex<Option<redis::Connection>>,
}

impl Redis {
    pub fn open(url: &str) -> Result<Redis> {
        // The client's own errors may quote the URL, password and all.
        let shown = redact_url(url);
        let client = redis::Client::open(url)
            .map_err(|_| anyhow!("store.url {shown:?} is not a valid Redis URL"))?;
        Ok(Redis {
            client,
            shown,
            connection: Mutex::new(None),
        })
    }

    fn connect(&self) -> Result<redis::Connection> {
        let connection = self
            .client
            .get_connection_with_timeout(TIMEOUT)
            .map_err(|e| self.unavailable(&e))?;
        connection.set_read_timeout(Some(TIMEOUT))?;
        connection.set_write_timeout(Some(TIMEOUT))?;
        Ok(connection)
    }

    fn unavailable(&self, e: &redis::RedisError) -> anyhow::Error {
        let why = match e.kind() {
            redis::ErrorKind::AuthenticationFailed => "authentication failed".to_string(),
            kind => format!("{kind:?}"),
        };
        anyhow!("the Redis store {:?} is unavailable ({why})", self.shown)
    }

    /// Runs `command`, connecting first if need be. A dropped connection
    /// (Redis restarted) is made again once and the command sent again:
    /// every command here is idempotent but `HINCRBY`, whose repeat can
    /// only leave an unused position.
    fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T> {
        let mut slot = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut retried = false;
        loop {
            let connection = match slot.take() {
                Some(connection) => connection,
                None => self.connect()?,
            };
            let mut connection = connection;
            match command.query::<T>(&mut connection) {
                Ok(value) => {
                    *slot = Some(connection);
                    return Ok(value);
                }
                Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                    // The connection is dropped with the error; the next try makes a new one.
                    if retried {
                        return Err(self.unavailable(&e));
                    }
                    retried = true;
                }
                Err(e) => {
                    *slot = Some(connection);
                    return Err(match e.kind() {
                        redis::ErrorKind::AuthenticationFailed => self.unavailable(&e),
                        _ => anyhow!("the Redis store refused a command: {e}"),
                    });
                }
            }
        }
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

    fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64> {
        let delta =
            i64::try_from(delta).map_err(|_| anyhow!("incrementing {key} would overflow"))?;
        let value: i64 = self
            .query(
                redis::cmd("HINCRBY")
                    .arg(hash_name(bucket))
                    .arg(key)
                    .arg(delta),
            )
            .map_err(|e| match e.to_string().contains("not an integer") {
                true => anyhow!("{key} holds a value that is not a counter"),
                false => e,
            })?;
        u64::try_from(value).map_err(|_| anyhow!("{key} holds a negative counter"))
    }

    fn get_many(&self, bucket: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.query(redis::cmd("HMGET").arg(hash_name(bucket)).arg(keys))
    }

    fn set_many(&self, bucket: &str, entries: &[(String, Vec<u8>)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut command = redis::cmd("HSET");
        command.arg(hash_name(bucket));
        for (key, value) in entries {
            command.arg(key).arg(value);
        }
        // One HSET sets every field or none.
        self.query::<()>(&command)
    }

    fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.query::<()>(redis::cmd("HDEL").arg(hash_name(bucket)).arg(keys))
    }
}
