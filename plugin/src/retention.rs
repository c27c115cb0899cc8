//! Retention: audit events and sessions past `audit-retention` /
//! `session-retention` are removed oldest first, a bounded batch per
//! prune, so no request pays for a sweep. An active session is never
//! removed, whatever the retention says.
//!
//! Each index has a cursor (`prune/NAME`, the last position pruned). Only
//! the holder of this minute's lease (an `increment` that answered 1)
//! moves it, so replicas on one store do not prune side by side.

use crate::audit;
use crate::clock;
use crate::error::{Result, config};
use crate::model::{AuditEvent, PruneReport, Session, SessionStatus};
use crate::platform::{KeyValue, Platform};
use crate::sessions::{self, status_at};
use crate::store::{Index, Records, Stored, audit_key, session_key};
use serde::de::DeserializeOwned;

/// The most records one prune removes of each kind.
pub const BATCH: u64 = 1000;
/// Slots read per batch read.
const CHUNK: u64 = 250;

/// How long records are kept; `None` keeps them forever.
pub struct Retention {
    pub audit: Option<time::Duration>,
    pub sessions: Option<time::Duration>,
}

impl Retention {
    pub fn load(platform: &dyn Platform) -> Result<Retention> {
        Ok(Retention {
            audit: duration(platform, "audit-retention")?,
            sessions: duration(platform, "session-retention")?,
        })
    }
}

/// A humantime duration of at least a minute, e.g. `400d`.
fn duration(platform: &dyn Platform, key: &str) -> Result<Option<time::Duration>> {
    let Some(text) = platform.config(key)?.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.as_secs() >= 60 => Ok(time::Duration::try_from(d).ok()),
        _ => Err(config(format!(
            "{key} must be a duration of at least 1m, like 400d, not {text:?}"
        ))),
    }
}

/// One bounded prune of both kinds; a replica that does not hold the
/// lease prunes nothing this minute.
pub fn prune(platform: &dyn Platform, retention: &Retention) -> Result<PruneReport> {
    let kv = platform.store();
    let now = clock::now(platform);
    let mut report = PruneReport {
        audit_events: 0,
        sessions: 0,
        more: false,
    };
    if retention.audit.is_none() && retention.sessions.is_none() {
        return Ok(report);
    }
    let lease = format!("lease/prune/{}", now.unix_timestamp() / 60);
    if kv.increment(&lease, 1)? != 1 {
        return Ok(report);
    }
    let result = (|| {
        if let Some(keep) = retention.audit {
            let cutoff = now - keep;
            let (removed, more) = prune_index(
                kv,
                &audit::index(),
                audit_key,
                |event: &Stored<AuditEvent>| clock::is_before(&event.value.time, cutoff),
                |records, key, event| records.remove(key, event, &[("all", &audit::index())]),
            )?;
            report.audit_events = removed;
            report.more |= more;
        }
        if let Some(keep) = retention.sessions {
            let cutoff = now - keep;
            let (removed, more) = prune_index(
                kv,
                &sessions::all_index(),
                session_key,
                |session: &Stored<Session>| {
                    clock::is_before(&session.value.created_at, cutoff)
                        && status_at(&session.value, now) != SessionStatus::Active
                },
                |records, key, session| {
                    let indexes = sessions::indexes(&session.value);
                    let roles: Vec<(&str, &Index)> =
                        indexes.iter().map(|(role, i)| (*role, i)).collect();
                    records.remove(key, session, &roles)
                },
            )?;
            report.sessions = removed;
            report.more |= more;
        }
        Ok(report)
    })();
    kv.delete(&lease)?;
    result
}

/// Removes `index`'s oldest records while `due` says so, at most
/// [`BATCH`]; returns how many and whether the batch ran out first.
fn prune_index<T: DeserializeOwned>(
    kv: &dyn KeyValue,
    index: &Index,
    record_key: fn(&str) -> String,
    due: impl Fn(&Stored<T>) -> bool,
    remove: impl Fn(&Records, &str, &Stored<T>) -> Result<()>,
) -> Result<(u32, bool)> {
    let records = Records::new(kv);
    let cursor_key = format!("prune/{}", index.name());
    let cursor: u64 = records.get::<u64>(&cursor_key)?.unwrap_or(0);
    let top = index.top(kv)?;
    let end = top.min(cursor + BATCH);
    let mut removed = 0;
    let mut done = cursor;
    let mut position = cursor + 1;
    'batches: while position <= end {
        let upto = (position + CHUNK).min(end + 1);
        let mut entries = records.entries::<T>(index, "all", position..upto, record_key)?;
        entries.reverse();
        for listed in entries {
            if !due(&listed.record) {
                break 'batches;
            }
            remove(&records, &record_key(&listed.id), &listed.record)?;
            removed += 1;
            done = listed.position;
        }
        // Every slot of this chunk is gone or was pruned.
        done = done.max(upto - 1);
        position = upto;
    }
    if done != cursor {
        records.put(&cursor_key, &done)?;
    }
    Ok((removed, done < top && done == end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Audit, Entry, Trail};
    use crate::broker::Broker;
    use crate::sessions::Sessions;
    use crate::testing::{Fake, every_session, fake, session_at};

    const NOW: u64 = 1_800_000_000;
    const DAY: u64 = 86_400;

    fn keep(days: i64) -> Option<time::Duration> {
        Some(time::Duration::days(days))
    }

    fn audit_at(fake: &Fake, seconds: u64, detail: &str) {
        fake.clock.set(seconds);
        let trail = Trail::new(Vec::new(), detail.to_string());
        Audit(&fake)
            .record(Entry::new("ops", "resource.create"), trail, Ok(()))
            .unwrap();
    }

    fn store_session(fake: &Fake, session: Session) {
        Sessions(&fake).insert(Stored::new(session)).unwrap();
    }

    #[test]
    fn prune_removes_what_is_past_retention_oldest_first_and_never_an_active_session() {
        let fake = fake();
        for day in [30, 20, 10, 1] {
            audit_at(&fake, NOW - day * DAY, &format!("{day} days ago"));
        }
        store_session(
            &fake,
            session_at("old@example.com", "prod", "admin", NOW - 20 * DAY, 30),
        );
        // Created long ago but still active (a clock far off, say): it stays.
        let mut lasting = session_at("active@example.com", "prod", "admin", NOW - 9 * DAY, 30);
        lasting.expires_at = crate::clock::rfc3339(
            time::OffsetDateTime::from_unix_timestamp(NOW as i64 + 600).unwrap(),
        );
        store_session(&fake, lasting);
        store_session(
            &fake,
            session_at("older@example.com", "prod", "admin", NOW - 8 * DAY, 30),
        );
        store_session(
            &fake,
            session_at("new@example.com", "prod", "admin", NOW - 60, 30),
        );
        fake.clock.set(NOW);

        let retention = Retention {
            audit: keep(15),
            sessions: keep(7),
        };
        let report = prune(&&fake, &retention).unwrap();
        assert_eq!(
            (report.audit_events, report.sessions, report.more),
            (2, 1, false)
        );
        let left: Vec<String> = Audit(&&fake)
            .list(None, None)
            .unwrap()
            .items
            .into_iter()
            .map(|e| e.detail)
            .collect();
        assert_eq!(left, ["1 days ago", "10 days ago"]);
        let users: Vec<String> = Sessions(&&fake)
            .list(&every_session())
            .unwrap()
            .items
            .into_iter()
            .map(|s| s.user)
            .collect();
        // The active one stops the sweep: the expired one behind it waits.
        assert_eq!(
            users,
            ["new@example.com", "older@example.com", "active@example.com"]
        );
        // The pruned session's slots went with it: its user's list is empty.
        let old = crate::model::SessionFilter {
            user: Some("old@example.com".into()),
            ..every_session()
        };
        assert!(Sessions(&&fake).list(&old).unwrap().items.is_empty());
        assert!(
            !fake
                .kv
                .borrow()
                .keys()
                .any(|k| k.contains("old@example.com") && k.starts_with("i/"))
        );
        // Nothing more is due: a second prune removes nothing.
        let again = prune(&&fake, &retention).unwrap();
        assert_eq!((again.audit_events, again.sessions), (0, 0));
    }

    #[test]
    fn a_prune_is_bounded_and_held_by_one_replica_at_a_time() {
        let fake = fake();
        for i in 0..(BATCH + 200) {
            audit_at(&fake, NOW - 30 * DAY + i, "old");
        }
        fake.clock.set(NOW);
        let retention = Retention {
            audit: keep(1),
            sessions: None,
        };
        // Another replica holds this minute's lease: nothing happens.
        let lease = format!("lease/prune/{}", NOW / 60);
        fake.increment(&lease, 1).unwrap();
        assert_eq!(prune(&&fake, &retention).unwrap().audit_events, 0);
        fake.delete(&lease).unwrap();

        let first = prune(&&fake, &retention).unwrap();
        assert_eq!((first.audit_events as u64, first.more), (BATCH, true));
        let second = prune(&&fake, &retention).unwrap();
        assert_eq!((second.audit_events, second.more), (200, false));
        assert!(fake.kv.borrow().keys().all(|k| !k.starts_with("lease/")));
    }

    #[test]
    fn the_broker_audits_a_prune_and_unset_retention_keeps_everything() {
        let mut fake = fake();
        audit_at(&fake, NOW - 30 * DAY, "old");
        fake.clock.set(NOW);
        let report = Broker::new(&fake).prune("ops").unwrap();
        assert_eq!(report.audit_events, 0, "no retention configured");
        fake.config.insert("audit-retention".into(), "7d".into());
        let report = Broker::new(&fake).prune("ops").unwrap();
        assert_eq!(report.audit_events, 1);
        let events = Audit(&&fake).list(None, None).unwrap().items;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "store.prune");
        assert!(
            events[0]
                .detail
                .contains("pruned 1 audit event(s) and 0 session(s)"),
            "{}",
            events[0].detail
        );

        fake.config.insert("audit-retention".into(), "soon".into());
        let Err(crate::model::Error::Config(message)) = Broker::new(&fake).prune("ops") else {
            panic!("a bad retention must be refused")
        };
        assert!(message.contains("audit-retention"), "{message}");
    }
}
