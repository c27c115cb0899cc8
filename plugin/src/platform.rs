//! What the broker needs from its host. The component implements it over
//! WASI (`component.rs`); unit tests implement it in memory.

use crate::error::Result;
use std::time::{Duration, SystemTime};

/// The key-value bucket the broker keeps its records in.
pub trait KeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    fn set(&self, key: &str, value: &[u8]) -> Result<()>;
    fn delete(&self, key: &str) -> Result<()>;
    /// Every key in the bucket.
    fn keys(&self) -> Result<Vec<String>>;
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
