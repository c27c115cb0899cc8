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
use std::time::Duration;

pub const LAYOUT: u32 = 2;
const LAYOUT_KEY: &str = "layout";

/// How a first use waits for an upgrade another holds the lease for.
const UPGRADE_POLL: Duration = Duration::from_millis(10);
const UPGRADE_POLLS: u32 = 200;

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
        Some(LAYOUT) => return Ok(nothing_to_upgrade()),
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
        // Another pam-aws (or another request of a fresh server) holds the
        // lease: wait for its mark rather than refuse the first requests.
        if upgraded_meanwhile(platform)? {
            return Ok(nothing_to_upgrade());
        }
        return Err(storage(
            "the store is being upgraded by another pam-aws; try again in a minute",
        ));
    }
    let result = upgrade(platform, actor);
    kv.delete(&lease)?;
    result
}

fn nothing_to_upgrade() -> MigrationReport {
    MigrationReport {
        from_layout: LAYOUT,
        to_layout: LAYOUT,
        records: 0,
    }
}

/// Whether the lease holder's upgrade wrote its mark within
/// `UPGRADE_POLLS` × `UPGRADE_POLL`: an empty store's takes milliseconds,
/// a large layout-1 store's may take minutes (then the caller refuses).
fn upgraded_meanwhile(platform: &dyn Platform) -> Result<bool> {
    for _ in 0..UPGRADE_POLLS {
        platform.sleep(UPGRADE_POLL);
        if found(platform)? == Some(LAYOUT) {
            return Ok(true);
        }
    }
    Ok(false)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Broker;
    use crate::model::Error;
    use crate::platform::KeyValue;
    use crate::store::{account_key, audit_key, resource_key, session_key};
    use crate::testing::{Fake, every_session, fake, session_at};
    use serde_json::json;

    /// A store as the first release wrote it: records only, no mark.
    fn layout_1(fake: &Fake) -> (Vec<String>, Vec<String>) {
        let records = Records::new(fake);
        records
            .put(&resource_key("prod"), &json!({
                "id": "0190a000-0000-7000-8000-000000000001", "name": "prod",
                "role_arn": crate::testing::RESOURCE_ROLE, "external_id": "proj-1",
                "aws_account_id": "123456789012", "partition": "aws", "created_at": "2026-01-01T00:00:00Z"
            }))
            .unwrap();
        records
            .put(&account_key("prod", "admin"), &json!({
                "id": "0190a000-0000-7000-8000-000000000002", "resource": "prod", "name": "admin",
                "description": null, "role_arn": crate::testing::TARGET_ROLE, "session_duration": "30m",
                "session_duration_seconds": 1800, "region": null, "allow": ["@example.com"],
                "created_at": "2026-01-01T00:00:00Z"
            }))
            .unwrap();
        let mut sessions = Vec::new();
        let mut events = Vec::new();
        for i in 0..30u64 {
            // Users written before emails were lowercased, too.
            let user = if i % 2 == 0 {
                "Alice@Example.com"
            } else {
                "bob@example.com"
            };
            let session = session_at(user, "prod", "admin", 1_700_000_000 + i, 30);
            records.put(&session_key(&session.id), &session).unwrap();
            let event = json!({
                "id": session.id, "time": session.created_at, "action": "access.grant",
                "actor": user, "resource": "prod", "account": "admin", "session": session.id,
                "outcome": "success", "detail": format!("grant {i}"), "request_ids": []
            });
            records.put(&audit_key(&session.id), &event).unwrap();
            sessions.push(session.id.clone());
            events.push(session.id);
        }
        (sessions, events)
    }

    #[test]
    fn a_first_release_store_is_upgraded_on_first_use_with_nothing_lost() {
        let fake = fake();
        let (mut sessions, _) = layout_1(&fake);
        let broker = Broker::open(&fake).unwrap();
        assert_eq!(broker.list_resources().unwrap()[0].name, "prod");
        assert_eq!(broker.list_accounts(Some("prod")).unwrap()[0].name, "admin");
        let listed: Vec<String> = broker
            .list_sessions(crate::model::SessionFilter {
                limit: Some(1000),
                ..every_session()
            })
            .unwrap()
            .items
            .into_iter()
            .map(|s| s.id)
            .collect();
        sessions.reverse();
        assert_eq!(listed, sessions, "every session, newest first");
        let alice = crate::model::SessionFilter {
            user: Some("alice@example.com".into()),
            ..every_session()
        };
        assert_eq!(broker.list_sessions(alice).unwrap().items.len(), 15);
        let events = broker.list_audit_events(Some(1000), None).unwrap().items;
        assert_eq!(events.len(), 31);
        assert_eq!(events[0].action, "store.migrate");
        assert!(
            events[0].detail.contains("62 record(s)"),
            "{}",
            events[0].detail
        );
        assert_eq!(events[1].detail, "grant 29");

        // Done once: a second run finds nothing to do.
        let again = Broker::new(&fake).migrate("ops").unwrap();
        assert_eq!((again.from_layout, again.records), (LAYOUT, 0));
        assert_eq!(
            broker
                .list_audit_events(Some(1000), None)
                .unwrap()
                .items
                .len(),
            31
        );
    }

    #[test]
    fn migrate_reports_what_it_did_and_a_newer_store_is_refused() {
        let fake = fake();
        layout_1(&fake);
        let report = Broker::new(&fake).migrate("ops").unwrap();
        assert_eq!(
            (report.from_layout, report.to_layout, report.records),
            (1, LAYOUT, 62)
        );

        fake.set(LAYOUT_KEY, b"3").unwrap();
        let Err(Error::Config(message)) = Broker::open(&fake) else {
            panic!("a newer layout must be refused")
        };
        assert!(message.contains("layout 3"), "{message}");
        assert!(Broker::new(&fake).migrate("ops").is_err());
    }

    #[test]
    fn an_empty_store_is_marked_without_an_event() {
        let fake = fake();
        let broker = Broker::open(&fake).unwrap();
        assert!(
            broker
                .list_audit_events(None, None)
                .unwrap()
                .items
                .is_empty()
        );
        assert_eq!(fake.get(LAYOUT_KEY).unwrap().as_deref(), Some(&b"2"[..]));
    }

    /// Holds the migration lease of `fake`'s current minute, as another
    /// pam-aws upgrading the store would.
    fn lease_held_elsewhere(fake: &Fake) {
        let lease = format!("lease/migrate/{}", fake.clock.get() / 60);
        fake.increment(&lease, 1).unwrap();
    }

    #[test]
    fn a_second_migrator_waits_for_the_first_then_refuses() {
        let fake = fake();
        layout_1(&fake);
        lease_held_elsewhere(&fake);
        let Err(Error::Storage(message)) = Broker::open(&fake) else {
            panic!("the store is being upgraded")
        };
        assert!(message.contains("being upgraded"), "{message}");
        let waited: Duration = fake.slept.borrow().iter().sum();
        assert_eq!(
            waited,
            Duration::from_secs(2),
            "bounded polls, then the refusal"
        );
        assert_eq!(found(&&fake).unwrap(), None, "nothing was upgraded");
    }

    /// The other migrator writes its mark while this one waits.
    struct FinishesWhileWaiting<'a>(&'a Fake);

    impl Platform for FinishesWhileWaiting<'_> {
        fn send(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> Result<http::Response<Vec<u8>>, crate::platform::SendError> {
            self.0.send(request)
        }
        fn now(&self) -> std::time::SystemTime {
            self.0.now()
        }
        fn sleep(&self, duration: Duration) {
            self.0.sleep(duration);
            Records::new(self.0).put(LAYOUT_KEY, &LAYOUT).unwrap();
        }
        fn config(&self, key: &str) -> Result<Option<String>> {
            self.0.config(key)
        }
        fn store(&self) -> &dyn KeyValue {
            self.0
        }
    }

    #[test]
    fn a_first_use_during_another_upgrade_is_served_once_the_mark_is_written() {
        // A fresh server's first requests arrive together: one takes the
        // lease and marks the empty store; the others must not get a 503.
        let fake = fake();
        lease_held_elsewhere(&fake);
        let broker = Broker::open(FinishesWhileWaiting(&fake)).unwrap();
        assert!(broker.list_resources().unwrap().is_empty());
        assert_eq!(*fake.slept.borrow(), [UPGRADE_POLL], "one poll");
    }

    #[test]
    fn migrate_during_another_upgrade_waits_and_finds_nothing_left() {
        let fake = fake();
        lease_held_elsewhere(&fake);
        let report = Broker::new(FinishesWhileWaiting(&fake))
            .migrate("ops")
            .unwrap();
        assert_eq!((report.from_layout, report.records), (LAYOUT, 0));
    }
}
