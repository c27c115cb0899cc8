//! Resources and accounts: the catalog's (declared in configuration,
//! read-only) first, then the stored ones it does not shadow.

use crate::catalog::Catalog;
use crate::error::{Result, not_found};
use crate::model::{Account, Error, Resource};
use crate::store::{Records, account_key, resource_key};
use crate::validate;

pub struct Directory<'a> {
    catalog: &'a Catalog,
    records: Records<'a>,
}

impl<'a> Directory<'a> {
    pub fn new(catalog: &'a Catalog, records: Records<'a>) -> Self {
        Directory { catalog, records }
    }

    pub fn resources(&self) -> Result<Vec<Resource>> {
        let mut resources = self.catalog.resources.clone();
        resources.extend(
            self.records
                .list::<Resource>(&resource_key(""))?
                .into_iter()
                .filter(|r| self.catalog.resource(&r.name).is_none()),
        );
        Ok(resources)
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
        let prefix = match resource {
            Some(name) => account_key(&self.resource(name)?.name, ""),
            None => "account/".to_string(),
        };
        let in_scope = |a: &&Account| resource.is_none_or(|name| a.resource == name);
        let mut accounts: Vec<Account> = self
            .catalog
            .accounts
            .iter()
            .filter(in_scope)
            .cloned()
            .collect();
        accounts.extend(
            self.records
                .list::<Account>(&prefix)?
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

    pub fn put_resource(&self, resource: &Resource) -> Result<()> {
        self.records.put(&resource_key(&resource.name), resource)
    }

    pub fn put_account(&self, account: &Account) -> Result<()> {
        self.records
            .put(&account_key(&account.resource, &account.name), account)
    }

    /// Refuses to delete a resource the catalog declares or that still has accounts.
    pub fn check_deletable_resource(&self, name: &str) -> Result<()> {
        self.resource(name)?;
        if self.catalog.resource(name).is_some() {
            return Err(read_only(format!("resource {name}")));
        }
        let accounts = self.records.keys(&account_key(name, ""))?;
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
        self.records.delete(&resource_key(name))
    }

    pub fn delete_account(&self, resource: &str, name: &str) -> Result<()> {
        self.records.delete(&account_key(resource, name))
    }
}

/// Catalog entries change only with the configuration.
fn read_only(what: String) -> Error {
    Error::Conflict(format!(
        "{what} is declared in the catalog configuration and is read-only there"
    ))
}
