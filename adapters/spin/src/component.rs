//! The WIT glue: each export calls Spin's import and maps the answer with
//! [`crate::rules`]. No logic of its own.

use crate::rules;

wit_bindgen::generate!({
    world: "adapter",
    path: "wit",
    generate_all,
});

use exports::wasi::config0_2_0_rc_1::store as ours_config;
use exports::wasi::keyvalue0_2_0_draft::{
    atomics as ours_atomics, batch as ours_batch, store as ours,
};
use wasi::config0_2_0_draft_2024_09_27::store as spin_config;
use wasi::keyvalue0_2_0_draft2::{atomics as spin_atomics, batch as spin_batch, store as spin};

/// Spin's `increment` writes its own number format; a counter changed under
/// us is tried again this many times before the call fails.
const COUNTER_ATTEMPTS: usize = 100;

struct Adapter;

export!(Adapter);

fn from_spin(error: spin::Error) -> ours::Error {
    match error {
        spin::Error::NoSuchStore => ours::Error::NoSuchStore,
        spin::Error::AccessDenied => ours::Error::AccessDenied,
        spin::Error::Other(why) => ours::Error::Other(why),
    }
}

/// One of Spin's stores, opened under its label.
pub struct Bucket(spin::Bucket);

impl ours::Guest for Adapter {
    type Bucket = Bucket;

    fn open(identifier: String) -> Result<ours::Bucket, ours::Error> {
        let bucket = spin::open(rules::store_label(&identifier)).map_err(from_spin)?;
        Ok(ours::Bucket::new(Bucket(bucket)))
    }
}

impl ours::GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, ours::Error> {
        self.0.get(&key).map_err(from_spin)
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), ours::Error> {
        self.0.set(&key, &value).map_err(from_spin)
    }

    fn delete(&self, key: String) -> Result<(), ours::Error> {
        self.0.delete(&key).map_err(from_spin)
    }

    fn exists(&self, key: String) -> Result<bool, ours::Error> {
        self.0.exists(&key).map_err(from_spin)
    }

    /// Spin answers every key at once and takes no cursor; should a store
    /// page after all, its string cursors are followed here, so our caller
    /// always gets one whole page.
    fn list_keys(&self, cursor: Option<u64>) -> Result<ours::KeyResponse, ours::Error> {
        if cursor.is_some() {
            return Ok(ours::KeyResponse {
                keys: Vec::new(),
                cursor: None,
            });
        }
        let mut keys = Vec::new();
        let mut next = None;
        loop {
            let page = self.0.list_keys(next.as_deref()).map_err(from_spin)?;
            keys.extend(page.keys);
            match page.cursor {
                Some(more) if Some(&more) != next.as_ref() => next = Some(more),
                _ => return Ok(ours::KeyResponse { keys, cursor: None }),
            }
        }
    }
}

impl ours_atomics::Guest for Adapter {
    fn increment(
        bucket: ours::BucketBorrow<'_>,
        key: String,
        delta: u64,
    ) -> Result<u64, ours::Error> {
        let bucket = &bucket.get::<Bucket>().0;
        let mut cas = spin_atomics::Cas::new(bucket, &key).map_err(from_spin)?;
        for _ in 0..COUNTER_ATTEMPTS {
            let current = cas.current().map_err(from_spin)?;
            let next = rules::counter_value(current.as_deref())
                .and_then(|value| rules::next_counter(value, delta))
                .map_err(|why| ours::Error::Other(format!("{key}: {why}")))?;
            match spin_atomics::swap(cas, next.to_string().as_bytes()) {
                Ok(()) => return Ok(next),
                Err(spin_atomics::CasError::CasFailed(fresh)) => cas = fresh,
                Err(spin_atomics::CasError::StoreError(error)) => return Err(from_spin(error)),
            }
        }
        Err(ours::Error::Other(format!(
            "{key}: the counter kept changing during {COUNTER_ATTEMPTS} attempts"
        )))
    }
}

impl ours_batch::Guest for Adapter {
    fn get_many(
        bucket: ours::BucketBorrow<'_>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, ours::Error> {
        let found = spin_batch::get_many(&bucket.get::<Bucket>().0, &keys).map_err(from_spin)?;
        Ok(rules::in_request_order(&keys, found))
    }

    fn set_many(
        bucket: ours::BucketBorrow<'_>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), ours::Error> {
        spin_batch::set_many(&bucket.get::<Bucket>().0, &key_values).map_err(from_spin)
    }

    fn delete_many(bucket: ours::BucketBorrow<'_>, keys: Vec<String>) -> Result<(), ours::Error> {
        spin_batch::delete_many(&bucket.get::<Bucket>().0, &keys).map_err(from_spin)
    }
}

fn from_spin_config(error: spin_config::Error) -> ours_config::Error {
    match error {
        spin_config::Error::Upstream(why) => ours_config::Error::Upstream(why),
        spin_config::Error::Io(why) => ours_config::Error::Io(why),
    }
}

impl ours_config::Guest for Adapter {
    fn get(key: String) -> Result<Option<String>, ours_config::Error> {
        spin_config::get(&rules::variable_name(&key)).map_err(from_spin_config)
    }

    fn get_all() -> Result<Vec<(String, String)>, ours_config::Error> {
        let all = spin_config::get_all().map_err(from_spin_config)?;
        Ok(all
            .into_iter()
            .map(|(variable, value)| (rules::config_key(&variable), value))
            .collect())
    }
}
