//! The audit trail: one event per operation, whatever its outcome, with
//! the request-derived strings made printable and cut.

use crate::error::Result;
use crate::model::{AuditEvent, Error, Outcome};
use crate::platform::Platform;
use crate::store::{HasId, Index, Page, Records, Step, Stored, Walk, audit_key, new_id};
use crate::validate::DEFAULT_PAGE;
use crate::{clock, validate};

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

pub fn index() -> Index {
    Index::named("e")
}

impl HasId for AuditEvent {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Audit<'_> {
    fn records(&self) -> Records<'_> {
        Records::new(self.0.store())
    }

    /// Records `result` as `entry`'s event and hands it back. A success
    /// that cannot be audited is reported as a storage failure: nothing is
    /// granted without a trace.
    pub fn record<T>(&self, entry: Entry, trail: Trail, result: Result<T>) -> Result<T> {
        self.write(entry, trail, &result, None)?;
        result
    }

    fn write<T>(
        &self,
        entry: Entry,
        trail: Trail,
        result: &Result<T>,
        repeats: Option<String>,
    ) -> Result<()> {
        let (outcome, detail) = match result {
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
        self.insert(Stored {
            keys: repeats.into_iter().collect(),
            ..Stored::new(event)
        })
        .map(drop)
    }

    /// Stores `event` and lists it.
    pub fn insert(&self, event: Stored<AuditEvent>) -> Result<Stored<AuditEvent>> {
        let id = event.value.id.clone();
        self.records()
            .insert(&audit_key(&id), event, &[("all", &index())], &id)
    }

    /// A refusal by policy, recorded as denied; the error to answer with.
    /// Only the first refusal of a caller's action in each second is an
    /// event; the others count against it (shown in its detail), so a
    /// caller cannot grow the store at will.
    pub fn refusal(&self, entry: Entry, why: String) -> Error {
        let denial = Error::Forbidden(why);
        let second = clock::now(self.0).unix_timestamp();
        let window = format!(
            "refusals/{}/{}/{second}",
            validate::printable(entry.actor, NAME_CHARS),
            entry.action
        );
        let recorded = match self.0.store().increment(&window, 1) {
            Ok(1) => self.write::<()>(entry, Trail::default(), &Err(denial.clone()), Some(window)),
            Ok(_) => Ok(()),
            // Unable to count: record it plainly rather than lose it.
            Err(_) => self.write::<()>(entry, Trail::default(), &Err(denial.clone()), None),
        };
        match recorded {
            Err(failed) => failed,
            Ok(()) => denial,
        }
    }

    /// A page of events, newest first (100 unless `limit` says).
    pub fn list(&self, limit: Option<u32>, before: Option<&str>) -> Result<Page<AuditEvent>> {
        let limit = validate::page_limit("limit", limit.unwrap_or(DEFAULT_PAGE))? as usize;
        let mut counted = Vec::new();
        let mut keep = |event: &Stored<AuditEvent>| {
            counted.push(event.keys.first().cloned());
            Step::Keep
        };
        let mut page = self.records().page(Walk {
            index: &index(),
            role: "all",
            record_key: audit_key,
            limit,
            before,
            keep: &mut keep,
        })?;
        self.add_repeats(&mut page.items, &counted)?;
        Ok(page)
    }

    /// Says in each rate-limited refusal how many it stood for.
    fn add_repeats(&self, events: &mut [AuditEvent], counters: &[Option<String>]) -> Result<()> {
        let keys: Vec<String> = counters
            .iter()
            .take(events.len())
            .flatten()
            .cloned()
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let mut counts = self.0.store().get_many(&keys)?.into_iter();
        for (event, counter) in events.iter_mut().zip(counters) {
            if counter.is_none() {
                continue;
            }
            let count = counts
                .next()
                .flatten()
                .and_then(|bytes| String::from_utf8(bytes).ok()?.parse::<u64>().ok())
                .unwrap_or(1);
            if count > 1 {
                event.detail = format!(
                    "{} (refused {count} times in this second; one event recorded)",
                    event.detail
                );
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Fake, fake};

    fn events(fake: &Fake) -> Vec<AuditEvent> {
        Audit(&fake).list(Some(1000), None).unwrap().items
    }

    #[test]
    fn refusals_by_policy_are_one_event_per_caller_action_and_second() {
        let fake = fake();
        let audit = Audit(&&fake);
        for _ in 0..50 {
            audit.refusal(
                Entry::new("mallory@example.com", "resource.create"),
                "no".into(),
            );
        }
        audit.refusal(
            Entry::new("mallory@example.com", "account.create"),
            "no".into(),
        );
        audit.refusal(
            Entry::new("eve@example.com", "resource.create"),
            "no".into(),
        );
        let first = events(&fake);
        assert_eq!(first.len(), 3, "{first:#?}");
        let burst = first
            .iter()
            .find(|e| e.actor == "mallory@example.com" && e.action == "resource.create")
            .unwrap();
        assert_eq!(burst.outcome, Outcome::Denied);
        assert!(
            burst.detail.contains("refused 50 times in this second"),
            "{}",
            burst.detail
        );
        assert!(!first[0].detail.contains("times"), "{}", first[0].detail);

        // The next second records again; grants and failures are never limited.
        fake.clock.set(fake.clock.get() + 1);
        audit.refusal(
            Entry::new("mallory@example.com", "resource.create"),
            "no".into(),
        );
        for _ in 0..3 {
            let failed: Result<()> = Err(Error::Upstream("down".into()));
            let _ = audit.record(
                Entry::new("mallory@example.com", "access"),
                Trail::default(),
                failed,
            );
        }
        assert_eq!(events(&fake).len(), 3 + 1 + 3);
    }

    #[test]
    fn pages_of_events_follow_each_other_without_overlap() {
        let fake = fake();
        let audit = Audit(&&fake);
        for i in 0..25 {
            let trail = Trail::new(Vec::new(), format!("event {i}"));
            audit
                .record(Entry::new("ops", "resource.create"), trail, Ok(()))
                .unwrap();
        }
        let first = audit.list(Some(10), None).unwrap();
        assert_eq!(first.items[0].detail, "event 24");
        let second = audit.list(Some(10), first.next.as_deref()).unwrap();
        assert_eq!(second.items[0].detail, "event 14");
        let third = audit.list(Some(10), second.next.as_deref()).unwrap();
        let details: Vec<&str> = third.items.iter().map(|e| e.detail.as_str()).collect();
        assert_eq!(
            details,
            ["event 4", "event 3", "event 2", "event 1", "event 0"]
        );
        assert_eq!(third.next, None);
    }
}
