//! The WIT side: `wasi:keyvalue/store` resources mapped onto a [`Backend`],
//! errors converted once at the boundary.

use super::Backend;
use crate::bindings::wasi::keyvalue::store::{self, KeyResponse};
use crate::bindings::wasi::keyvalue::{atomics, batch};
use std::sync::Arc;
use wasmtime::component::{HasData, Resource, ResourceTable};

/// An open bucket, as the component holds it.
pub struct Bucket {
    name: String,
}

/// Errors returned to the component; backend details stay in the host's log.
pub enum KvError {
    NoSuchStore,
    Backend(anyhow::Error),
    Trap(wasmtime::Error),
}

impl From<wasmtime::component::ResourceTableError> for KvError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        KvError::Trap(wasmtime::Error::new(e))
    }
}

impl From<anyhow::Error> for KvError {
    fn from(e: anyhow::Error) -> Self {
        KvError::Backend(e)
    }
}

/// What the keyvalue host functions see of the store's data.
pub struct KvView<'a> {
    pub table: &'a mut ResourceTable,
    pub backend: &'a Arc<dyn Backend>,
    pub allowed_bucket: &'a str,
}

impl store::Host for KvView<'_> {
    fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvError> {
        if identifier != self.allowed_bucket {
            return Err(KvError::NoSuchStore);
        }
        Ok(self.table.push(Bucket { name: identifier })?)
    }

    fn convert_error(&mut self, error: KvError) -> wasmtime::Result<store::Error> {
        match error {
            KvError::NoSuchStore => Ok(store::Error::NoSuchStore),
            KvError::Backend(e) => {
                tracing::error!(error = %e, "key-value store failed");
                Ok(store::Error::Other(format!("the host's store failed: {e}")))
            }
            KvError::Trap(e) => Err(e),
        }
    }
}

impl store::HostBucket for KvView<'_> {
    fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, KvError> {
        let name = &self.table.get(&bucket)?.name;
        Ok(self.backend.get(name, &key)?)
    }

    fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KvError> {
        let name = &self.table.get(&bucket)?.name;
        Ok(self.backend.set(name, &key, &value)?)
    }

    fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), KvError> {
        let name = &self.table.get(&bucket)?.name;
        Ok(self.backend.delete(name, &key)?)
    }

    fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Result<bool, KvError> {
        let name = &self.table.get(&bucket)?.name;
        Ok(self.backend.get(name, &key)?.is_some())
    }

    fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<KeyResponse, KvError> {
        // One page holds every key; a cursor past the start yields nothing.
        let name = &self.table.get(&bucket)?.name;
        let keys = if cursor.unwrap_or(0) == 0 {
            self.backend.keys(name)?
        } else {
            Vec::new()
        };
        Ok(KeyResponse { keys, cursor: None })
    }

    fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KvView<'_> {
    fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, KvError> {
        let name = &self.table.get(&bucket)?.name;
        Ok(self.backend.increment(name, &key, delta)?)
    }
}

impl batch::Host for KvView<'_> {
    fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KvError> {
        let name = &self.table.get(&bucket)?.name;
        let values = self.backend.get_many(name, &keys)?;
        Ok(keys
            .into_iter()
            .zip(values)
            .map(|(key, value)| value.map(|value| (key, value)))
            .collect())
    }

    fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvError> {
        let name = &self.table.get(&bucket)?.name;
        Ok(self.backend.set_many(name, &key_values)?)
    }

    fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Result<(), KvError> {
        let name = &self.table.get(&bucket)?.name;
        Ok(self.backend.delete_many(name, &keys)?)
    }
}

struct HasKv;

impl HasData for HasKv {
    type Data<'a> = KvView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> KvView<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasKv>(linker, view)?;
    atomics::add_to_linker::<T, HasKv>(linker, view)?;
    batch::add_to_linker::<T, HasKv>(linker, view)
}
