//! The store's layout version (`layout`), checked before anything reads
//! the store. Layout 1 (the first release) kept records only, listed by
//! scanning every key; layout 2 lists them through indexes (`store.rs`).
//! A store without the mark is upgraded in place on first use, or by
//! `pam-aws migrate`; a store marked newer than this component is refused.

use crate::audit::{Audit, Entry, Trail};
use crate::directory::Directory;
use crate::error::{Result, config, storage};
use crate::model::{Account, AuditEvent, MigrationReport, Resource, Session};
use crate::platform::Platform;
use crate::sessions::Sessions;
use crate::store::{Records, Stored};
use crate::{catalog::Catalog, clock};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub const LAYOUT: u32 = 2;
const LAYOUT_KEY: &str = "layout";

/// Layout 1 had these prefixes, and no mark.
const RECORD_PREFIXES: [&str; 4] = ["resource/", "account/", "session/", "audit/"];

fn found(platform: &dyn Platform) -> Result<Option<u32>> {
    let records = Records::new(platform.store());
    records.get::<u32>(LAYOUT_KEY)
}

/// Makes the store this layout, or refuses it.
pub fn ensure(platform: &dyn Platform) -> Result<()> {
    match found(platform)? {
        Some(LAYOUT) => Ok(()),
        _ => migrate(platform, "pam-aws (first use)").map(drop),
    }
}

/// Upgrades layout 1 in place: every record gets its slots, oldest first.
/// Records already indexed (a migration cut short) are left as they are,
/// so running it again is safe.
pub fn migrate(platform: &dyn Platform, actor: &str) -> Result<MigrationReport> {
    let kv = platform.store();
    match found(platform)? {
        Some(LAYOUT) => {
            return Ok(MigrationReport {
                from_layout: LAYOUT,
                to_layout: LAYOUT,
                records: 0,
            });
        }
        Some(newer) if newer > LAYOUT => {
            return Err(config(format!(
                "the store has layout {newer}, newer than this pam-aws understands ({LAYOUT}): \
                 run the release that wrote it, or a newer one"
            )));
        }
        _ => {}
    }
    // One migrator at a time; the lease lapses with the minute if it dies.
    let lease = format!(
        "lease/migrate/{}",
        clock::now(platform).unix_timestamp() / 60
    );
    if kv.increment(&lease, 1)? != 1 {
        return Err(storage(
            "the store is being upgraded by another pam-aws; try again in a minute",
        ));
    }
    let result = upgrade(platform, actor);
    kv.delete(&lease)?;
    result
}

fn upgrade(platform: &dyn Platform, actor: &str) -> Result<MigrationReport> {
    let records = Records::new(platform.store());
    let empty = Catalog::default();
    let directory = Directory::new(&empty, Records::new(platform.store()));
    let mut rewritten = 0;
    rewritten += reindex::<Resource>(&records, RECORD_PREFIXES[0], |r| {
        directory.insert_resource(r)
    })?;
    rewritten += reindex::<Account>(&records, RECORD_PREFIXES[1], |a| {
        directory.insert_account(a)
    })?;
    rewritten += reindex::<Session>(&records, RECORD_PREFIXES[2], |s| {
        Sessions(platform).insert(s).map(drop)
    })?;
    rewritten += reindex::<AuditEvent>(&records, RECORD_PREFIXES[3], |e| {
        Audit(platform).insert(e).map(drop)
    })?;
    records.put(LAYOUT_KEY, &LAYOUT)?;
    let from_layout = if rewritten == 0 { LAYOUT } else { 1 };
    if rewritten > 0 {
        let detail =
            format!("store upgraded from layout 1 to {LAYOUT}: {rewritten} record(s) indexed");
        Audit(platform).record(
            Entry::new(actor, "store.migrate"),
            Trail::new(Vec::new(), detail),
            Ok(()),
        )?;
    }
    Ok(MigrationReport {
        from_layout,
        to_layout: LAYOUT,
        records: rewritten,
    })
}

/// Indexes each unindexed record under `prefix`, in key order (ids are
/// UUID v7, so oldest first); returns how many.
fn reindex<T: DeserializeOwned + Serialize>(
    records: &Records,
    prefix: &str,
    mut insert: impl FnMut(Stored<T>) -> Result<()>,
) -> Result<u32> {
    let mut count = 0;
    for key in records.scan(prefix)? {
        let Some(record) = records.get::<Stored<T>>(&key)? else {
            continue;
        };
        if !record.index.is_empty() {
            continue;
        }
        insert(record)?;
        count += 1;
    }
    Ok(count)
}
