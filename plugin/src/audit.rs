//! The audit trail: one event per operation, whatever its outcome, with
//! the request-derived strings made printable and cut.

use crate::error::Result;
use crate::model::{AuditEvent, Error, Outcome};
use crate::platform::Platform;
use crate::store::{Records, audit_key, new_id};
use crate::{clock, validate};

const DEFAULT_LIMIT: u32 = 100;
/// What an audit event keeps of a name (an email is at most 254) and of its detail.
const NAME_CHARS: usize = 254;
const DETAIL_CHARS: usize = 2048;

/// Who did what to which resource and account.
pub struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub resource: Option<&'a str>,
    pub account: Option<&'a str>,
}

impl<'a> Entry<'a> {
    pub fn new(actor: &'a str, action: &'a str) -> Self {
        Entry {
            actor,
            action,
            resource: None,
            account: None,
        }
    }

    /// About `resource` (and `account` of it).
    pub fn on(self, resource: &'a str, account: Option<&'a str>) -> Self {
        Entry {
            resource: Some(resource),
            account,
            ..self
        }
    }
}

/// What an operation leaves in its event besides the outcome.
#[derive(Default)]
pub struct Trail {
    pub request_ids: Vec<String>,
    pub session: Option<String>,
    /// What a success did (a failure's event holds its message).
    pub detail: String,
}

impl Trail {
    pub fn new(request_ids: Vec<String>, detail: String) -> Self {
        Trail {
            request_ids,
            session: None,
            detail,
        }
    }
}

pub struct Audit<'a>(pub &'a dyn Platform);

impl Audit<'_> {
    fn records(&self) -> Records<'_> {
        Records::new(self.0.store())
    }

    /// Records `result` as `entry`'s event and hands it back. A success
    /// that cannot be audited is reported as a storage failure: nothing is
    /// granted without a trace.
    pub fn record<T>(&self, entry: Entry, trail: Trail, result: Result<T>) -> Result<T> {
        let (outcome, detail) = match &result {
            Ok(_) => (Outcome::Success, trail.detail),
            Err(e) if e.is_denial() => (Outcome::Denied, e.message()),
            Err(e) => (Outcome::Failure, e.message()),
        };
        let event = AuditEvent {
            id: new_id(),
            time: clock::timestamp(self.0),
            action: action_name(entry.action, outcome),
            actor: validate::printable(entry.actor, NAME_CHARS),
            resource: entry
                .resource
                .map(|name| validate::printable(name, NAME_CHARS)),
            account: entry
                .account
                .map(|name| validate::printable(name, NAME_CHARS)),
            session: trail.session,
            outcome,
            detail: validate::printable(&detail, DETAIL_CHARS),
            request_ids: trail.request_ids,
        };
        self.records().put(&audit_key(&event.id), &event)?;
        result
    }

    /// A refusal by policy, recorded as denied; the error to answer with.
    pub fn refusal(&self, entry: Entry, why: String) -> Error {
        let denial = Error::Forbidden(why);
        match self.record::<()>(entry, Trail::default(), Err(denial.clone())) {
            Err(recorded) => recorded,
            Ok(()) => denial,
        }
    }

    /// The newest `limit` events (100 unless given), newest first.
    pub fn list(&self, limit: Option<u32>) -> Result<Vec<AuditEvent>> {
        let limit = validate::page_limit("limit", limit.unwrap_or(DEFAULT_LIMIT))? as usize;
        let records = self.records();
        let mut events = Vec::new();
        for key in records.keys(&audit_key(""))?.iter().rev().take(limit) {
            events.extend(records.get::<AuditEvent>(key)?);
        }
        Ok(events)
    }
}

/// Grants (`access`, `credentials`) say what happened in their name, as
/// gateways filter on it: `access.grant`, `access.deny`, `access.fail`.
/// Other actions (`resource.create`, …) are named as they are.
fn action_name(action: &str, outcome: Outcome) -> String {
    match (action.contains('.'), outcome) {
        (true, _) => action.to_string(),
        (false, Outcome::Success) => format!("{action}.grant"),
        (false, Outcome::Denied) => format!("{action}.deny"),
        (false, Outcome::Failure) => format!("{action}.fail"),
    }
}
