//! Session records: what a grant opened (never its credentials), their
//! status as of now, and revocation's mark.

use crate::error::{Result, invalid, not_found, upstream};
use crate::grant::Grant;
use crate::model::{Hop, Session, SessionFilter, SessionStatus};
use crate::platform::Platform;
use crate::store::{HasId, Index, Page, Records, Step, Stored, Walk, new_id, session_key};
use crate::sts::AssumedRole;
use crate::validate::DEFAULT_PAGE;
use crate::{clock, validate};
use time::{Duration, OffsetDateTime};

pub struct Sessions<'a>(pub &'a dyn Platform);

/// The longest a session can be active: role chaining caps hop 2 at 1 h.
pub const MAX_ACTIVE: Duration = Duration::hours(1);

/// The indexes that list a session, by role: every session (`s`), a
/// user's (`u/EMAIL`) and an account's (`a/RES/NAME`). A resource's are
/// read from the first: resources are few, so its sessions are dense there,
/// and one list fewer keeps a grant under 2 KB in Redis.
pub fn indexes(session: &Session) -> [(&'static str, Index); 3] {
    [
        ("all", all_index()),
        ("user", user_index(&session.user)),
        (
            "account",
            account_index(&session.resource, &session.account),
        ),
    ]
}

pub fn all_index() -> Index {
    Index::named("s")
}

fn user_index(user: &str) -> Index {
    Index::named(format!("u/{}", user.to_ascii_lowercase()))
}

fn account_index(resource: &str, account: &str) -> Index {
    Index::named(format!("a/{resource}/{account}"))
}

/// Every session, newest first, the first page of 100.
pub fn unfiltered() -> SessionFilter {
    SessionFilter {
        active_only: false,
        user: None,
        resource: None,
        account: None,
        limit: None,
        before: None,
    }
}

impl HasId for Session {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Sessions<'_> {
    fn records(&self) -> Records<'_> {
        Records::new(self.0.store())
    }

    /// Stores the session `grant` opened as hop 2's assumed role; the
    /// credentials stay with the caller.
    pub fn record(&self, grant: &Grant, hop2: &AssumedRole) -> Result<Session> {
        let expires_at = clock::normalise(&hop2.expiration).ok_or_else(|| {
            upstream(format!(
                "{}: STS returned an Expiration that is not RFC 3339",
                Hop::TargetRole
            ))
        })?;
        let session = Session {
            id: new_id(),
            resource: grant.resource.name.clone(),
            account: grant.account.name.clone(),
            user: grant.user.clone(),
            role_arn: grant.account.role_arn.clone(),
            assumed_role_arn: hop2.arn.clone(),
            assumed_role_id: hop2.assumed_role_id.clone(),
            role_session_name: grant.session_name.clone(),
            source_identity: grant
                .resource
                .source_identity
                .then(|| grant.session_name.clone()),
            created_at: clock::timestamp(self.0),
            expires_at,
            status: SessionStatus::Active,
        };
        self.insert(Stored::new(session)).map(|stored| stored.value)
    }

    /// Stores `session` and lists it in its indexes.
    pub fn insert(&self, session: Stored<Session>) -> Result<Stored<Session>> {
        let indexes = indexes(&session.value);
        let id = session.value.id.clone();
        let roles: Vec<(&str, &Index)> = indexes.iter().map(|(role, i)| (*role, i)).collect();
        self.records()
            .insert(&session_key(&id), session, &roles, &id)
    }

    /// One session, with its status as of now.
    pub fn get(&self, id: &str) -> Result<Session> {
        let mut session = self
            .records()
            .get::<Session>(&session_key(id))?
            .ok_or_else(|| not_found(format!("session {id}")))?;
        session.status = status_at(&session, clock::now(self.0));
        Ok(session)
    }

    /// A page of sessions, newest first, read from the narrowest index the
    /// filter names; `active` stops where sessions are too old to be.
    pub fn list(&self, filter: &SessionFilter) -> Result<Page<Session>> {
        let user = filter
            .user
            .as_deref()
            .map(|user| validate::user_email("user", user))
            .transpose()?;
        if let Some(resource) = &filter.resource {
            validate::name("resource", resource)?;
        }
        let account = match (&filter.resource, &filter.account) {
            (Some(resource), Some(account)) => {
                validate::name("account", account)?;
                Some((resource.as_str(), account.as_str()))
            }
            (None, Some(_)) => return Err(invalid("account", "needs resource as well")),
            _ => None,
        };
        let limit = validate::page_limit("limit", filter.limit.unwrap_or(DEFAULT_PAGE))? as usize;
        let (role, index) = match (&user, account) {
            (Some(user), _) => ("user", user_index(user)),
            (None, Some((resource, account))) => ("account", account_index(resource, account)),
            (None, None) => ("all", all_index()),
        };
        let now = clock::now(self.0);
        // A margin for clocks and for records written after hop 2 answered.
        let oldest_active = now - MAX_ACTIVE - Duration::minutes(5);
        let mut keep = |stored: &Stored<Session>| {
            let session = &stored.value;
            if filter.active_only && !clock::is_after(&session.created_at, oldest_active) {
                return Step::Stop;
            }
            let matches = user.as_ref().is_none_or(|u| same_user(&session.user, u))
                && filter
                    .resource
                    .as_ref()
                    .is_none_or(|r| &session.resource == r)
                && filter
                    .account
                    .as_ref()
                    .is_none_or(|a| &session.account == a)
                && (!filter.active_only || status_at(session, now) == SessionStatus::Active);
            if matches { Step::Keep } else { Step::Skip }
        };
        let page = self.records().page(Walk {
            index: &index,
            role,
            record_key: session_key,
            limit,
            before: filter.before.as_deref(),
            keep: &mut keep,
        })?;
        Ok(page.map(|mut session| {
            session.status = status_at(&session, now);
            session
        }))
    }

    /// Marks `sessions` revoked, in the store and in what is returned.
    pub fn mark_revoked(&self, sessions: &[Session]) -> Result<Vec<Session>> {
        let records = self.records();
        let mut revoked = Vec::new();
        for session in sessions {
            let key = session_key(&session.id);
            // Only the status changes, to a final value: concurrent revokes agree.
            let mut stored = records
                .get::<Stored<Session>>(&key)?
                .ok_or_else(|| not_found(format!("session {}", session.id)))?;
            stored.value.status = SessionStatus::Revoked;
            records.put(&key, &stored)?;
            revoked.push(stored.value);
        }
        Ok(revoked)
    }
}

/// Whether two recorded emails are one user (records written before emails
/// were stored lowercase compare alike too).
pub fn same_user(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Status from the clock: revoked stays revoked, otherwise active until `expires_at`.
pub fn status_at(session: &Session, now: OffsetDateTime) -> SessionStatus {
    match session.status {
        SessionStatus::Revoked => SessionStatus::Revoked,
        _ if clock::is_after(&session.expires_at, now) => SessionStatus::Active,
        _ => SessionStatus::Expired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Fake, every_session, fake, session_at};

    const NOW: u64 = 1_800_000_000;

    /// Stores sessions as grants do; their ids, oldest first.
    fn store(fake: &Fake, sessions: impl IntoIterator<Item = Session>) -> Vec<String> {
        sessions
            .into_iter()
            .map(|s| Sessions(&fake).insert(Stored::new(s)).unwrap().value.id)
            .collect()
    }

    fn list(fake: &Fake, filter: &SessionFilter) -> Result<Page<Session>> {
        Sessions(&fake).list(filter)
    }

    /// Follows `next` from the first page to the last; every id seen.
    fn read_all(fake: &Fake, filter: SessionFilter, between_pages: impl Fn()) -> Vec<String> {
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = list(
                fake,
                &SessionFilter {
                    before,
                    ..filter.clone()
                },
            )
            .unwrap();
            seen.extend(page.items.iter().map(|s| s.id.clone()));
            match page.next {
                Some(next) => {
                    assert_eq!(Some(&next), seen.last(), "next is the page's last id");
                    before = Some(next);
                }
                None => return seen,
            }
            between_pages();
        }
    }

    #[test]
    fn pages_list_every_session_once_newest_first_while_more_are_added() {
        let fake = fake();
        fake.clock.set(NOW);
        let users = ["alice@example.com", "bob@example.com", "carol@example.com"];
        let old = store(
            &fake,
            (0..250).map(|i| session_at(users[i % 3], "prod", "admin", NOW - 7200, 30)),
        );
        let filter = SessionFilter {
            limit: Some(40),
            ..every_session()
        };
        // A grant lands between every two pages: it is newer than the walk.
        let seen = read_all(&fake, filter, || {
            store(
                &fake,
                [session_at("dave@example.com", "prod", "admin", NOW, 30)],
            );
        });
        let mut expected = old.clone();
        expected.reverse();
        assert_eq!(seen, expected, "no duplicate, no gap, newest first");
        // A fresh walk sees the new ones first.
        let first = list(&fake, &every_session()).unwrap();
        assert_eq!(first.items[0].user, "dave@example.com");
        assert_eq!(first.items.len(), 100);
    }

    #[test]
    fn filters_combine_with_paging_and_read_only_their_index() {
        let fake = fake();
        fake.clock.set(NOW);
        // Many sessions of others, a few of bob's, one of them active.
        store(
            &fake,
            (0..2000).map(|_| session_at("alice@example.com", "prod", "admin", NOW - 7200, 30)),
        );
        let bobs = store(
            &fake,
            [
                session_at("bob@example.com", "prod", "admin", NOW - 7200, 30),
                session_at("bob@example.com", "dev", "ro", NOW - 7000, 30),
                session_at("bob@example.com", "prod", "ro", NOW - 600, 30),
            ],
        );
        store(
            &fake,
            (0..50).map(|_| session_at("alice@example.com", "prod", "admin", NOW - 60, 15)),
        );

        fake.reads.set(0);
        let bob = SessionFilter {
            user: Some("Bob@Example.com".into()),
            ..every_session()
        };
        let page = list(&fake, &bob).unwrap();
        let ids: Vec<&str> = page.items.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, [bobs[2].as_str(), bobs[1].as_str(), bobs[0].as_str()]);
        assert!(
            fake.reads.get() < 40,
            "bob's page read {} keys",
            fake.reads.get()
        );

        let on = |resource: &str, account: Option<&str>| SessionFilter {
            resource: Some(resource.into()),
            account: account.map(str::to_string),
            ..bob.clone()
        };
        let ids = |filter: SessionFilter| -> Vec<String> {
            list(&fake, &filter)
                .unwrap()
                .items
                .into_iter()
                .map(|s| s.id)
                .collect()
        };
        assert_eq!(ids(on("prod", None)), [bobs[2].clone(), bobs[0].clone()]);
        assert_eq!(ids(on("prod", Some("ro"))), [bobs[2].clone()]);
        assert_eq!(
            ids(SessionFilter {
                active_only: true,
                ..bob.clone()
            }),
            [bobs[2].clone()]
        );
        assert_eq!(
            ids(SessionFilter {
                limit: Some(1),
                before: Some(bobs[2].clone()),
                ..bob.clone()
            }),
            [bobs[1].clone()]
        );

        // Active sessions: only the last hour is read, not the 2000 old ones.
        fake.reads.set(0);
        let active = SessionFilter {
            active_only: true,
            limit: Some(1000),
            ..every_session()
        };
        let page = list(&fake, &active).unwrap();
        assert_eq!(page.items.len(), 51);
        assert!(page.items.iter().all(|s| s.status == SessionStatus::Active));
        assert_eq!(page.next, None);
        // One batch of slots and their records, not the 4,000 keys of the old sessions.
        assert!(
            fake.reads.get() <= 1100,
            "active read {} keys",
            fake.reads.get()
        );

        let account_only = SessionFilter {
            account: Some("admin".into()),
            ..every_session()
        };
        let Err(crate::model::Error::InvalidInput(e)) = list(&fake, &account_only) else {
            panic!("account without resource must be refused")
        };
        assert_eq!(e.field, "account");
        let elsewhere = SessionFilter {
            before: Some("no-such-id".into()),
            ..bob
        };
        let Err(crate::model::Error::InvalidInput(e)) = list(&fake, &elsewhere) else {
            panic!("an unknown before must be refused")
        };
        assert_eq!(e.field, "before");
        for limit in [0, 1001] {
            let filter = SessionFilter {
                limit: Some(limit),
                ..every_session()
            };
            assert!(list(&fake, &filter).is_err(), "limit {limit}");
        }
    }
}
