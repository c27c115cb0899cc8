//! Records in the key-value bucket, one JSON value per key, kept apart by
//! key prefix. Only records go in here: credentials never do.

use crate::error::{Result, storage};
use crate::platform::KeyValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A new record's id: UUID v7, so keys sort by time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn resource_key(name: &str) -> String {
    format!("resource/{name}")
}

pub fn account_key(resource: &str, name: &str) -> String {
    format!("account/{resource}/{name}")
}

pub fn session_key(id: &str) -> String {
    format!("session/{id}")
}

pub fn audit_key(id: &str) -> String {
    format!("audit/{id}")
}

pub struct Records<'a> {
    kv: &'a dyn KeyValue,
}

impl<'a> Records<'a> {
    pub fn new(kv: &'a dyn KeyValue) -> Self {
        Records { kv }
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.kv.get(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| storage(format!("record {key} is not readable: {e}"))),
        }
    }

    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(storage)?;
        self.kv.set(key, &bytes)
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        self.kv.delete(key)
    }

    /// Keys under `prefix`, sorted (ids are UUID v7, so by time).
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys: Vec<String> = self
            .kv
            .keys()?
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Every record under `prefix`, in key order.
    pub fn list<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for key in self.keys(prefix)? {
            // A key deleted between listing and reading is simply gone.
            if let Some(value) = self.get(&key)? {
                out.push(value);
            }
        }
        Ok(out)
    }
}
