//! A store that lasts one process.

use super::Backend;
use anyhow::Result;
use std::collections::BTreeMap;
use std::sync::Mutex;

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

    fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64> {
        let mut entries = self.entries();
        let slot = (bucket.to_string(), key.to_string());
        let next = super::add(
            key,
            super::counter_value(key, entries.get(&slot).map(Vec::as_slice))?,
            delta,
        )?;
        entries.insert(slot, next.to_string().into_bytes());
        Ok(next)
    }

    fn get_many(&self, bucket: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let entries = self.entries();
        Ok(keys
            .iter()
            .map(|key| entries.get(&(bucket.to_string(), key.clone())).cloned())
            .collect())
    }

    fn set_many(&self, bucket: &str, pairs: &[(String, Vec<u8>)]) -> Result<()> {
        let mut entries = self.entries();
        for (key, value) in pairs {
            entries.insert((bucket.to_string(), key.clone()), value.clone());
        }
        Ok(())
    }

    fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<()> {
        let mut entries = self.entries();
        for key in keys {
            entries.remove(&(bucket.to_string(), key.clone()));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::tests::exercise;

    #[test]
    fn memory_keeps_buckets_apart() {
        exercise(&Memory::default());
        crate::kv::tests::increments_are_atomic(std::sync::Arc::new(Memory::default()));
    }
}
