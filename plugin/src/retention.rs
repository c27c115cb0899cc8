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
                &Index::named("session"),
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
