//! Resources and accounts: the catalog's (declared in configuration,
//! read-only) first, then the stored ones it does not shadow.

use crate::catalog::Catalog;
use crate::error::{Result, not_found};
use crate::model::{Account, Error, Resource};
use crate::store::{HasId, Index, Records, Stored, account_key, resource_key};
use crate::validate;

/// Stored resources, in the order they were created (slots hold names).
pub fn resource_index() -> Index {
    Index::named("r")
}

/// A resource's stored accounts (slots hold `RESOURCE/NAME`).
pub fn account_index(resource: &str) -> Index {
    Index::named(format!("ac/{resource}"))
}

impl HasId for Resource {
    fn id(&self) -> &str {
        &self.id
    }
}

impl HasId for Account {
    fn id(&self) -> &str {
        &self.id
    }
}

fn account_slot_key(slot: &str) -> String {
    format!("account/{slot}")
}

pub struct Directory<'a> {
    catalog: &'a Catalog,
    records: Records<'a>,
}

impl<'a> Directory<'a> {
    pub fn new(catalog: &'a Catalog, records: Records<'a>) -> Self {
        Directory { catalog, records }
    }

    /// The catalog's resources, then the stored ones by name.
    pub fn resources(&self) -> Result<Vec<Resource>> {
        let mut stored: Vec<Resource> = self
            .listed(&resource_index(), resource_key)?
            .into_iter()
            .filter(|r: &Resource| self.catalog.resource(&r.name).is_none())
            .collect();
        stored.sort_by(|a, b| a.name.cmp(&b.name));
        let mut resources = self.catalog.resources.clone();
        resources.extend(stored);
        Ok(resources)
    }

    /// Every record `index` lists (directories are small: read whole).
    fn listed<T: serde::de::DeserializeOwned>(
        &self,
        index: &Index,
        record_key: fn(&str) -> String,
    ) -> Result<Vec<T>> {
        let top = index.top(self.records.kv())?;
        let entries = self
            .records
            .entries::<T>(index, "all", 1..top + 1, record_key)?;
        Ok(entries
            .into_iter()
            .rev()
            .map(|listed| listed.record.value)
            .collect())
    }

    pub fn resource(&self, name: &str) -> Result<Resource> {
        validate::name("resource", name)?;
        if let Some(resource) = self.catalog.resource(name) {
            return Ok(resource.clone());
        }
        self.records
            .get(&resource_key(name))?
            .ok_or_else(|| not_found(format!("resource {name}")))
    }

    /// Every account, or `resource`'s (which must exist).
    pub fn accounts(&self, resource: Option<&str>) -> Result<Vec<Account>> {
        let resources = match resource {
            Some(name) => vec![self.resource(name)?],
            None => self.resources()?,
        };
        let mut stored = Vec::new();
        for resource in &resources {
            let mut listed: Vec<Account> =
                self.listed(&account_index(&resource.name), account_slot_key)?;
            listed.sort_by(|a, b| a.name.cmp(&b.name));
            stored.extend(listed);
        }
        let in_scope = |a: &&Account| resource.is_none_or(|name| a.resource == name);
        let mut accounts: Vec<Account> = self
            .catalog
            .accounts
            .iter()
            .filter(in_scope)
            .cloned()
            .collect();
        accounts.extend(
            stored
                .into_iter()
                .filter(|a| self.catalog.account(&a.resource, &a.name).is_none()),
        );
        Ok(accounts)
    }

    pub fn account(&self, resource: &str, name: &str) -> Result<Account> {
        validate::name("resource", resource)?;
        validate::name("account", name)?;
        if let Some(account) = self.catalog.account(resource, name) {
            return Ok(account.clone());
        }
        self.records
            .get(&account_key(resource, name))?
            .ok_or_else(|| not_found(format!("account {resource}/{name}")))
    }

    /// Refuses a name the catalog or the store already has.
    pub fn check_new_resource(&self, name: &str) -> Result<()> {
        if self.catalog.resource(name).is_some()
            || self.records.get::<Resource>(&resource_key(name))?.is_some()
        {
            return Err(Error::Conflict(format!("resource {name} already exists")));
        }
        Ok(())
    }

    pub fn check_new_account(&self, resource: &str, name: &str) -> Result<()> {
        if self.catalog.account(resource, name).is_some()
            || self
                .records
                .get::<Account>(&account_key(resource, name))?
                .is_some()
        {
            return Err(Error::Conflict(format!(
                "account {resource}/{name} already exists"
            )));
        }
        Ok(())
    }

    /// Stores a new resource and lists it.
    pub fn insert_resource(&self, resource: Stored<Resource>) -> Result<()> {
        let name = resource.value.name.clone();
        let index = resource_index();
        self.records
            .insert(&resource_key(&name), resource, &[("all", &index)], &name)
            .map(drop)
    }

    /// Stores a new account and lists it under its resource.
    pub fn insert_account(&self, account: Stored<Account>) -> Result<()> {
        let slot = format!("{}/{}", account.value.resource, account.value.name);
        let index = account_index(&account.value.resource);
        self.records
            .insert(&account_slot_key(&slot), account, &[("all", &index)], &slot)
            .map(drop)
    }

    /// Refuses to delete a resource the catalog declares or that still has accounts.
    pub fn check_deletable_resource(&self, name: &str) -> Result<()> {
        self.resource(name)?;
        if self.catalog.resource(name).is_some() {
            return Err(read_only(format!("resource {name}")));
        }
        let accounts: Vec<Account> = self.listed(&account_index(name), account_slot_key)?;
        if !accounts.is_empty() {
            return Err(Error::Conflict(format!(
                "resource {name} still has {} account(s): delete them first",
                accounts.len()
            )));
        }
        Ok(())
    }

    pub fn check_deletable_account(&self, resource: &str, name: &str) -> Result<()> {
        self.account(resource, name)?;
        if self.catalog.account(resource, name).is_some() {
            return Err(read_only(format!("account {resource}/{name}")));
        }
        Ok(())
    }

    pub fn delete_resource(&self, name: &str) -> Result<()> {
        self.remove::<Resource>(&resource_key(name), &resource_index())
    }

    pub fn delete_account(&self, resource: &str, name: &str) -> Result<()> {
        self.remove::<Account>(&account_key(resource, name), &account_index(resource))
    }

    /// Deletes a record and its slot together.
    fn remove<T: serde::de::DeserializeOwned>(&self, key: &str, index: &Index) -> Result<()> {
        match self.records.get::<Stored<T>>(key)? {
            Some(record) => self.records.remove(key, &record, &[("all", index)]),
            None => Ok(()),
        }
    }
}

/// Catalog entries change only with the configuration.
fn read_only(what: String) -> Error {
    Error::Conflict(format!(
        "{what} is declared in the catalog configuration and is read-only there"
    ))
}
