//! Session records: what a grant opened (never its credentials), their
//! status as of now, and revocation's mark.

use crate::error::{Result, not_found, upstream};
use crate::grant::Grant;
use crate::model::{Hop, Session, SessionFilter, SessionStatus};
use crate::platform::Platform;
use crate::store::{Records, new_id, session_key};
use crate::sts::AssumedRole;
use crate::{clock, validate};
use time::OffsetDateTime;

pub struct Sessions<'a>(pub &'a dyn Platform);

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
        self.records().put(&session_key(&session.id), &session)?;
        Ok(session)
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

    /// Newest first, filtered by user and status.
    pub fn list(&self, filter: &SessionFilter) -> Result<Vec<Session>> {
        let user = filter
            .user
            .as_deref()
            .map(|user| validate::user_email("user", user))
            .transpose()?;
        let now = clock::now(self.0);
        let mut sessions: Vec<Session> = self
            .records()
            .list::<Session>(&session_key(""))?
            .into_iter()
            .map(|mut session| {
                session.status = status_at(&session, now);
                session
            })
            .filter(|s| user.as_ref().is_none_or(|user| same_user(&s.user, user)))
            .filter(|s| !filter.active_only || s.status == SessionStatus::Active)
            .collect();
        sessions.reverse();
        Ok(sessions)
    }

    /// Marks `sessions` revoked, in the store and in what is returned.
    pub fn mark_revoked(&self, sessions: &[Session]) -> Result<Vec<Session>> {
        let mut revoked = Vec::new();
        for session in sessions {
            let mut session = session.clone();
            session.status = SessionStatus::Revoked;
            self.records().put(&session_key(&session.id), &session)?;
            revoked.push(session);
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
fn status_at(session: &Session, now: OffsetDateTime) -> SessionStatus {
    match session.status {
        SessionStatus::Revoked => SessionStatus::Revoked,
        _ if clock::is_after(&session.expires_at, now) => SessionStatus::Active,
        _ => SessionStatus::Expired,
    }
}
