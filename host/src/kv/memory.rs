//! A store that lasts one process.

use super::Backend;
use anyhow::Result;
use std::collections::HashMap;
use std::sync::Mutex;

/// One bucket's entries.
type Entries = HashMap<String, Vec<u8>>;

/// Process-lifetime store, for tests and throwaway runs. Hashed, not
/// ordered: every grant adds records, and lookups must not slow down as
/// they pile up; only `keys` (upgrades) wants an order, and sorts.
#[derive(Default)]
pub struct Memory {
    buckets: Mutex<HashMap<String, Entries>>,
}

impl Memory {
    fn buckets(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entries>> {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `bucket`'s entries, created on first write.
fn bucket_mut<'a>(buckets: &'a mut HashMap<String, Entries>, bucket: &str) -> &'a mut Entries {
    buckets.entry(bucket.to_string()).or_default()
}

impl Backend for Memory {
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .buckets()
            .get(bucket)
            .and_then(|entries| entries.get(key))
            .cloned())
    }

    fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<()> {
        bucket_mut(&mut self.buckets(), bucket).insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        if let Some(entries) = self.buckets().get_mut(bucket) {
            entries.remove(key);
        }
        Ok(())
    }

    fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64> {
        let mut buckets = self.buckets();
        let entries = bucket_mut(&mut buckets, bucket);
        let current = super::counter_value(key, entries.get(key).map(Vec::as_slice))?;
        let next = super::add(key, current, delta)?;
        entries.insert(key.to_string(), next.to_string().into_bytes());
        Ok(next)
    }

    fn get_many(&self, bucket: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let buckets = self.buckets();
        let entries = buckets.get(bucket);
        Ok(keys
            .iter()
            .map(|key| entries.and_then(|entries| entries.get(key)).cloned())
            .collect())
    }

    fn set_many(&self, bucket: &str, pairs: &[(String, Vec<u8>)]) -> Result<()> {
        let mut buckets = self.buckets();
        let entries = bucket_mut(&mut buckets, bucket);
        for (key, value) in pairs {
            entries.insert(key.clone(), value.clone());
        }
        Ok(())
    }

    fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<()> {
        if let Some(entries) = self.buckets().get_mut(bucket) {
            for key in keys {
                entries.remove(key);
            }
        }
        Ok(())
    }

    fn keys(&self, bucket: &str) -> Result<Vec<String>> {
        let mut keys: Vec<String> = self
            .buckets()
            .get(bucket)
            .map(|entries| entries.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort_unstable();
        Ok(keys)
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
