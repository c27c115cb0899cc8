//! What the broker needs from its host. The component implements it over
//! WASI (`component.rs`); unit tests implement it in memory.

use crate::error::Result;
use std::time::{Duration, SystemTime};

/// The key-value bucket the broker keeps its records in.
pub trait KeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    fn set(&self, key: &str, value: &[u8]) -> Result<()>;
    fn delete(&self, key: &str) -> Result<()>;
    /// Every key in the bucket: only upgrading an old layout lists them.
    fn keys(&self) -> Result<Vec<String>>;
    /// Adds `delta` to the counter at `key` (missing counts as 0) and
    /// returns the new value, atomically across every writer.
    fn increment(&self, key: &str, delta: u64) -> Result<u64>;
    /// The values of `keys`, in their order.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>>;
    /// Writes every entry (the hosts we ship do it in one transaction).
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<()>;
    fn delete_many(&self, keys: &[String]) -> Result<()>;
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum SendError {
    /// Connecting or waiting for the answer took too long.
    TimedOut(String),
    /// The host refused to send it (egress policy): trying again cannot help.
    Refused(String),
    /// Anything else: reset, unreachable, too large.
    Failed(String),
}

pub trait Platform {
    /// Sends one HTTP request; `Err` is a network failure or timeout.
    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, SendError>;
    fn now(&self) -> SystemTime;
    /// Waits (between retries).
    fn sleep(&self, duration: Duration);
    /// A configuration value (`wasi:config/store`).
    fn config(&self, key: &str) -> Result<Option<String>>;
    fn store(&self) -> &dyn KeyValue;
}
