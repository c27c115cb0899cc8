//! Constructors and display for the WIT `error` variant, so the rest of the
//! plugin returns the typed error users see, built in one place.

use crate::model::{Error, Hop, InvalidInput};
use pam_aws_contract::HopName;
use pam_aws_contract::fault::AsFault;
use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Bad input: names the field and the rule it broke.
pub fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::InvalidInput(InvalidInput {
        field: field.to_string(),
        message: message.into(),
    })
}

pub fn not_found(what: impl Into<String>) -> Error {
    Error::NotFound(what.into())
}

pub fn storage(message: impl fmt::Display) -> Error {
    Error::Storage(message.to_string())
}

pub fn upstream(message: impl Into<String>) -> Error {
    Error::Upstream(message.into())
}

pub fn timeout(message: impl Into<String>) -> Error {
    Error::Timeout(message.into())
}

pub fn config(message: impl Into<String>) -> Error {
    Error::Config(message.into())
}

pam_aws_contract::impl_fault!(Error, Hop);

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(HopName::from(*self).label())
    }
}

impl Error {
    /// The one-line message users see (wit-bindgen's `Display` is `Debug`).
    pub fn message(&self) -> String {
        self.fault().message()
    }

    /// `{"kind","field","message",…}`: the shape the CLI's `--json` and
    /// the REST API share.
    pub fn to_json(&self) -> serde_json::Value {
        self.fault().to_json()
    }

    /// Refusals are audited as `denied`, the rest as `failure`.
    pub fn is_denial(&self) -> bool {
        self.fault().is_denial()
    }

    /// The REST API's status for it.
    pub fn http_status(&self) -> u16 {
        self.fault().http_status()
    }
}
