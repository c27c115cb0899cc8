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

/// The indexes that list a session, by role: every session, and those of
/// one user, one resource and one account.
pub fn indexes(session: &Session) -> [(&'static str, Index); 4] {
    [
        ("all", Index::named("session")),
        ("user", user_index(&session.user)),
        ("resource", resource_index(&session.resource)),
        (
            "account",
            account_index(&session.resource, &session.account),
        ),
    ]
}

fn user_index(user: &str) -> Index {
    Index::named(format!("session-user/{}", user.to_lowercase()))
}

fn resource_index(resource: &str) -> Index {
    Index::named(format!("session-resource/{resource}"))
}

fn account_index(resource: &str, account: &str) -> Index {
    Index::named(format!("session-account/{resource}/{account}"))
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
        let (role, index) = match (&user, account, &filter.resource) {
            (Some(user), _, _) => ("user", user_index(user)),
            (None, Some((resource, account)), _) => ("account", account_index(resource, account)),
            (None, None, Some(resource)) => ("resource", resource_index(resource)),
            (None, None, None) => ("all", Index::named("session")),
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
    a.to_lowercase() == b.to_lowercase()
}

/// Status from the clock: revoked stays revoked, otherwise active until `expires_at`.
pub fn status_at(session: &Session, now: OffsetDateTime) -> SessionStatus {
    match session.status {
        SessionStatus::Revoked => SessionStatus::Revoked,
        _ if clock::is_after(&session.expires_at, now) => SessionStatus::Active,
        _ => SessionStatus::Expired,
    }
}
