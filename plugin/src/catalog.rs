//! The declarative catalog (`catalog` config key): resources and accounts
//! declared up front, read-only, so a stateless gateway can run from
//! configuration alone. Entries are checked like created ones, except that
//! no AWS call proves them: the first access does.

use crate::entries;
use crate::error::{Result, config};
use crate::model::{Account, NewAccount, NewResource, Resource};
use crate::settings;
use serde::Deserialize;
use std::cell::RefCell;
use std::rc::Rc;

/// Catalog entries have no creation time; they show the Unix epoch.
const CATALOG_TIME: &str = "1970-01-01T00:00:00Z";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    resources: Vec<NewResource>,
    #[serde(default)]
    accounts: Vec<NewAccount>,
}

#[derive(Default)]
pub struct Catalog {
    pub resources: Vec<Resource>,
    pub accounts: Vec<Account>,
}

/// A `catalog` config value, the default external id it was read with, and
/// what it parsed to.
type Parsed = (String, Option<String>, Rc<Catalog>);

thread_local! {
    /// The catalog last parsed. An instance that serves request after
    /// request (`pam-aws serve` reuses them) reads the same `catalog` key
    /// each time, and parsing and checking it again was about a twentieth
    /// of the component's work in a grant.
    static LAST: RefCell<Option<Parsed>> = const { RefCell::new(None) };
}

impl Catalog {
    /// The `catalog` config value `raw` (JSON, or `base64:` JSON), parsed
    /// and checked, or the catalog already parsed from this same value and
    /// default external id. A changed value is parsed afresh; a failure is
    /// not remembered.
    pub fn from_config(raw: String, default_external_id: Option<&str>) -> Result<Rc<Catalog>> {
        let remembered = LAST.with_borrow(|last| match last {
            Some((text, external_id, catalog))
                if *text == raw && external_id.as_deref() == default_external_id =>
            {
                Some(catalog.clone())
            }
            _ => None,
        });
        if let Some(catalog) = remembered {
            return Ok(catalog);
        }
        let text = settings::unwrap_base64("catalog", raw.clone())?;
        let catalog = Rc::new(Catalog::parse(&text, default_external_id)?);
        LAST.set(Some((
            raw,
            default_external_id.map(str::to_string),
            catalog.clone(),
        )));
        Ok(catalog)
    }

    /// Parses and checks the catalog; a mistake names the entry and rule.
    pub fn parse(text: &str, default_external_id: Option<&str>) -> Result<Catalog> {
        let document: Document =
            serde_json::from_str(text).map_err(|e| config(format!("catalog is not valid: {e}")))?;
        let mut catalog = Catalog::default();
        for (i, input) in document.resources.iter().enumerate() {
            let id = format!("catalog:{}", input.name);
            let resource =
                entries::resource(input, default_external_id, id, CATALOG_TIME.to_string())
                    .map_err(|e| config(format!("catalog resources[{i}]: {}", e.message())))?;
            if catalog.resource(&resource.name).is_some() {
                return Err(config(format!(
                    "catalog resources[{i}]: {} is declared twice",
                    resource.name
                )));
            }
            catalog.resources.push(resource);
        }
        for (i, input) in document.accounts.iter().enumerate() {
            let at = |message: String| config(format!("catalog accounts[{i}]: {message}"));
            let resource = catalog.resource(&input.resource).ok_or_else(|| {
                at(format!(
                    "resource {} is not declared in the catalog",
                    input.resource
                ))
            })?;
            let id = format!("catalog:{}/{}", input.resource, input.name);
            let (account, _) = entries::account(input, resource, id, CATALOG_TIME.to_string())
                .map_err(|e| at(e.message()))?;
            if catalog.account(&account.resource, &account.name).is_some() {
                return Err(at(format!(
                    "{}/{} is declared twice",
                    account.resource, account.name
                )));
            }
            catalog.accounts.push(account);
        }
        Ok(catalog)
    }

    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name == name)
    }

    pub fn account(&self, resource: &str, name: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.resource == resource && a.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{RESOURCE_ROLE, TARGET_ROLE};
    use serde_json::json;

    fn parse(document: serde_json::Value) -> Result<Catalog> {
        Catalog::parse(&document.to_string(), Some("proj-1"))
    }

    #[test]
    fn resources_and_accounts_are_read_with_defaults() {
        let catalog = parse(json!({
            "resources": [{"name": "prod", "role_arn": RESOURCE_ROLE}],
            "accounts": [{"resource": "prod", "name": "admin", "role_arn": TARGET_ROLE,
                          "duration": "30m", "allow": ["@example.com", "group:ops"]}],
        }))
        .unwrap();
        let resource = catalog.resource("prod").unwrap();
        assert_eq!(resource.external_id, "proj-1", "the default external id");
        assert_eq!(resource.aws_account_id, "123456789012");
        let account = catalog.account("prod", "admin").unwrap();
        assert_eq!(account.session_duration_seconds, 1800);
        assert_eq!(account.allow, ["@example.com", "group:ops"]);
        assert_eq!(account.id, "catalog:prod/admin");
    }

    #[test]
    fn mistakes_name_the_entry_and_the_rule() {
        let message = |document| match parse(document) {
            Err(e) => e.message(),
            Ok(_) => panic!("accepted"),
        };
        let bad_arn = message(json!({"resources": [{"name": "prod", "role_arn": "nope"}]}));
        assert!(
            bad_arn.contains("resources[0]") && bad_arn.contains("role-arn"),
            "{bad_arn}"
        );
        let orphan = message(json!({"accounts": [{"resource": "gone", "name": "a",
            "role_arn": TARGET_ROLE, "duration": "30m"}]}));
        assert!(
            orphan.contains("accounts[0]") && orphan.contains("gone"),
            "{orphan}"
        );
        let too_long = message(json!({
            "resources": [{"name": "prod", "role_arn": RESOURCE_ROLE}],
            "accounts": [{"resource": "prod", "name": "a", "role_arn": TARGET_ROLE, "duration": "2h"}],
        }));
        assert!(too_long.contains("duration"), "{too_long}");
        let typo = message(json!({"resource": []}));
        assert!(typo.contains("unknown field"), "{typo}");
        let twice = message(json!({"resources": [
            {"name": "prod", "role_arn": RESOURCE_ROLE}, {"name": "prod", "role_arn": RESOURCE_ROLE}]}));
        assert!(twice.contains("twice"), "{twice}");
    }

    #[test]
    fn a_changed_catalog_value_is_read_afresh() {
        let declaring = |account: &str| {
            json!({
                "resources": [{"name": "prod", "role_arn": RESOURCE_ROLE}],
                "accounts": [{"resource": "prod", "name": account, "role_arn": TARGET_ROLE,
                              "duration": "30m"}],
            })
            .to_string()
        };
        let first = Catalog::from_config(declaring("admin"), Some("proj-1")).unwrap();
        let again = Catalog::from_config(declaring("admin"), Some("proj-1")).unwrap();
        assert!(
            Rc::ptr_eq(&first, &again),
            "the same value is not parsed twice"
        );

        let changed = Catalog::from_config(declaring("audit"), Some("proj-1")).unwrap();
        assert!(changed.account("prod", "audit").is_some());
        assert!(
            changed.account("prod", "admin").is_none(),
            "the old catalog is gone"
        );

        let other_default = Catalog::from_config(declaring("audit"), Some("proj-2")).unwrap();
        assert_eq!(
            other_default.resource("prod").unwrap().external_id,
            "proj-2"
        );

        let broken = Catalog::from_config("{".to_string(), Some("proj-1"));
        assert!(
            broken.is_err(),
            "a broken value is refused every time, not served stale"
        );
        assert!(Catalog::from_config("{".to_string(), Some("proj-1")).is_err());
    }
}
