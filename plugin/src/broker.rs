//! The broker: every operation of the component, over any [`Platform`].
//! Each reads top to bottom as its steps; the parts own their state:
//! [`Directory`] the resources and accounts (with the catalog), [`Aws`] the
//! calls with their deadline and retries, [`Sessions`] the session records,
//! [`Audit`] the trail. Who may do what is the REST layer's (`policy`).

use crate::audit::{Audit, Entry, Trail};
use crate::aws::{Aws, RoleCall};
use crate::catalog::Catalog;
use crate::directory::Directory;
use crate::error::{Result, not_found};
use crate::grant::Grant;
use crate::model::{
    AccessGrant, Account, AuditEvent, Error, MigrationReport, NewAccount, NewResource, PruneReport,
    Resource, Session, SessionFilter, SessionStatus,
};
use crate::platform::Platform;
use crate::retention::{self, Retention};
use crate::sessions::Sessions;
use crate::settings::Settings;
use crate::store::{Page, Records, Stored, new_id};
use crate::validate::{self, RoleArn};
use crate::{clock, entries, federation, layout, revocation};
use aws_credential_types::Credentials;
use std::cell::OnceCell;
use std::rc::Rc;

/// The session name used when creating resources and accounts proves the roles.
pub const VALIDATION_SESSION: &str = "pam-aws-validation";
/// The session name hop 1 uses to write revocations.
pub const REVOCATION_SESSION: &str = "pam-aws-revocation";

/// Hop 2's credentials and their session. Debug-printing it shows no
/// secret (aws-credential-types redacts them); the WIT record they leave
/// the component in is built only at the boundary.
#[derive(Debug)]
pub struct IssuedCredentials {
    pub credentials: Credentials,
    pub session: Session,
}

impl IssuedCredentials {
    /// The WIT record, for the one place that hands it over.
    pub fn into_grant(self) -> crate::model::CredentialsGrant {
        let credentials = self.credentials;
        crate::model::CredentialsGrant {
            access_key_id: credentials.access_key_id().to_string(),
            secret_access_key: credentials.secret_access_key().to_string(),
            session_token: credentials.session_token().unwrap_or_default().to_string(),
            expiration: self.session.expires_at.clone(),
            session: self.session,
        }
    }
}

pub struct Broker<P> {
    platform: P,
    /// The `catalog` config key, parsed on first use.
    catalog: OnceCell<Rc<Catalog>>,
    /// The settings, read on first use: a broker lives for one request,
    /// and every config read is a call out of the component.
    settings: OnceCell<Settings>,
}

impl<P: Platform> Broker<P> {
    /// A broker over a store already in this layout (unit tests, `migrate`).
    pub fn new(platform: P) -> Self {
        Broker {
            platform,
            catalog: OnceCell::new(),
            settings: OnceCell::new(),
        }
    }

    /// A broker over `platform`'s store, upgraded first if an earlier
    /// release wrote it; a store from a newer release is refused.
    pub fn open(platform: P) -> Result<Self> {
        layout::ensure(&platform)?;
        Ok(Broker::new(platform))
    }

    // ---- access: the flow ----

    /// Checks and loads what a grant of `request` needs; nothing is sent.
    /// The typed API trusts its embedder to have decided who may ask.
    pub fn prepare(&self, request: &crate::model::AccessRequest) -> Result<Grant> {
        self.prepare_for(request, |_| Ok(()))
    }

    /// [`Broker::prepare`] with the caller's `authorize` decision on the
    /// account (the REST layer's policy), made before anything else.
    pub fn prepare_for(
        &self,
        request: &crate::model::AccessRequest,
        authorize: impl FnOnce(&Account) -> Result<()>,
    ) -> Result<Grant> {
        Grant::prepare(&self.directory()?, request, authorize)
    }

    /// Hop 1, hop 2, sign-in token, login URL, session record, audit.
    pub fn access(&self, grant: Grant) -> Result<AccessGrant> {
        let settings = self.settings()?;
        let mut aws = Aws::new(&self.platform, settings);
        let result = (|| {
            let hop1 = aws.assume_resource_role(grant.hop1())?;
            let hop2 = aws.assume_role(&hop1.credentials, grant.hop2())?;
            let signin = grant.federation_endpoint(settings);
            let token = aws.signin_token(&signin, &hop2.credentials)?;
            let url =
                federation::login_url(&signin, &settings.issuer, &grant.destination(), &token)?;
            let session = self.sessions().record(&grant, &hop2)?;
            Ok(AccessGrant { url, session })
        })();
        let session = result.as_ref().ok().map(|granted| &granted.session);
        let trail = Grant::trail("access", session, aws.into_request_ids());
        self.audit().record(grant.entry("access"), trail, result)
    }

    /// `access`'s sibling for the AWS CLI's `credential_process`: hop 1,
    /// hop 2, session record, audit; hop 2's credentials instead of a URL.
    pub fn credentials(&self, grant: Grant) -> Result<IssuedCredentials> {
        let settings = self.settings()?;
        let mut aws = Aws::new(&self.platform, settings);
        let result = (|| {
            let hop1 = aws.assume_resource_role(grant.hop1())?;
            let hop2 = aws.assume_role(&hop1.credentials, grant.hop2())?;
            let session = self.sessions().record(&grant, &hop2)?;
            Ok(IssuedCredentials {
                credentials: hop2.credentials,
                session,
            })
        })();
        let session = result.as_ref().ok().map(|issued| &issued.session);
        let trail = Grant::trail("credentials", session, aws.into_request_ids());
        self.audit()
            .record(grant.entry("credentials"), trail, result)
    }

    /// Records a refusal by policy as a denied audit event and returns it.
    pub fn refuse(
        &self,
        actor: &str,
        action: &str,
        resource: Option<&str>,
        account: Option<&str>,
        why: String,
    ) -> Error {
        let entry = Entry {
            resource,
            account,
            ..Entry::new(actor, action)
        };
        self.audit().refusal(entry, why)
    }

    // ---- resources and accounts ----

    /// Proves hop 1 works, then stores the resource.
    pub fn create_resource(&self, actor: &str, input: NewResource) -> Result<Resource> {
        let settings = self.settings()?;
        let resource = entries::resource(
            &input,
            settings.external_id.as_deref(),
            new_id(),
            clock::timestamp(&self.platform),
        )?;
        let directory = self.directory()?;
        directory.check_new_resource(&resource.name)?;
        let mut aws = Aws::new(&self.platform, settings);
        let result = (|| {
            aws.assume_resource(&resource, VALIDATION_SESSION)?;
            directory.insert_resource(Stored::new(resource.clone()))?;
            Ok(resource.clone())
        })();
        let detail = format!("Resource Role {} assumed and stored", resource.role_arn);
        let entry = Entry::new(actor, "resource.create").on(&resource.name, None);
        self.audit()
            .record(entry, Trail::new(aws.into_request_ids(), detail), result)
    }

    /// Catalog entries first, then stored ones the catalog does not shadow.
    pub fn list_resources(&self) -> Result<Vec<Resource>> {
        self.directory()?.resources()
    }

    pub fn get_resource(&self, name: &str) -> Result<Resource> {
        self.directory()?.resource(name)
    }

    pub fn delete_resource(&self, actor: &str, name: &str) -> Result<()> {
        let directory = self.directory()?;
        directory.check_deletable_resource(name)?;
        let result = directory.delete_resource(name);
        let trail = Trail::new(Vec::new(), format!("resource {name} deleted"));
        let entry = Entry::new(actor, "resource.delete").on(name, None);
        self.audit().record(entry, trail, result)
    }

    /// Proves both hops work, with the account's duration, then stores it.
    pub fn create_account(&self, actor: &str, input: NewAccount) -> Result<Account> {
        let directory = self.directory()?;
        let resource = directory.resource(&input.resource)?;
        let (account, target_role) = entries::account(
            &input,
            &resource,
            new_id(),
            clock::timestamp(&self.platform),
        )?;
        directory.check_new_account(&resource.name, &account.name)?;
        let settings = self.settings()?;
        let mut aws = Aws::new(&self.platform, settings);
        let result = (|| {
            let hop1 = aws.assume_resource(&resource, VALIDATION_SESSION)?;
            let hop2 = RoleCall::target_role(
                &target_role,
                VALIDATION_SESSION,
                &resource.external_id,
                account.session_duration_seconds,
            );
            aws.assume_role(&hop1.credentials, hop2)?;
            directory.insert_account(Stored::new(account.clone()))?;
            Ok(account.clone())
        })();
        let detail = format!(
            "both hops into {} succeeded; account stored",
            account.role_arn
        );
        let entry = Entry::new(actor, "account.create").on(&resource.name, Some(&account.name));
        self.audit()
            .record(entry, Trail::new(aws.into_request_ids(), detail), result)
    }

    /// Catalog entries first, then stored ones the catalog does not shadow.
    pub fn list_accounts(&self, resource: Option<&str>) -> Result<Vec<Account>> {
        self.directory()?.accounts(resource)
    }

    pub fn get_account(&self, resource: &str, name: &str) -> Result<Account> {
        self.directory()?.account(resource, name)
    }

    pub fn delete_account(&self, actor: &str, resource: &str, name: &str) -> Result<()> {
        let directory = self.directory()?;
        directory.check_deletable_account(resource, name)?;
        let result = directory.delete_account(resource, name);
        let trail = Trail::new(Vec::new(), format!("account {resource}/{name} deleted"));
        let entry = Entry::new(actor, "account.delete").on(resource, Some(name));
        self.audit().record(entry, trail, result)
    }

    // ---- sessions and revocation ----

    /// One session, with its status as of now.
    pub fn get_session(&self, id: &str) -> Result<Session> {
        self.sessions().get(id)
    }

    pub fn list_sessions(&self, filter: SessionFilter) -> Result<Page<Session>> {
        self.sessions().list(&filter)
    }

    pub fn revoke_session(&self, actor: &str, id: &str) -> Result<Session> {
        let session = self.get_session(id)?;
        if session.status != SessionStatus::Active {
            let status = match session.status {
                SessionStatus::Revoked => "revoked",
                _ => "expired",
            };
            return Err(Error::Conflict(format!("session {id} is already {status}")));
        }
        let mut revoked = self.revoke(actor, vec![session])?;
        revoked
            .pop()
            .ok_or_else(|| not_found(format!("session {id}")))
    }

    pub fn revoke_user(
        &self,
        actor: &str,
        resource: &str,
        account: &str,
        user: &str,
    ) -> Result<Vec<Session>> {
        let user = validate::user_email("user", user)?;
        self.get_account(resource, account)?;
        let filter = SessionFilter {
            active_only: true,
            user: Some(user.clone()),
            resource: Some(resource.to_string()),
            account: Some(account.to_string()),
            limit: Some(validate::MAX_PAGE),
            before: None,
        };
        let sessions = self.list_sessions(filter)?.items;
        if sessions.is_empty() {
            return Err(not_found(format!(
                "active sessions of {user} on {resource}/{account}"
            )));
        }
        self.revoke(actor, sessions)
    }

    /// Hop 1, then an inline policy of this revocation's own on the Target
    /// Role denying the sessions' `aws:userid` every token issued until now
    /// (`revocation`: no read-modify-write, so concurrent revocations never
    /// lose each other's denies), then the sessions marked revoked, audit.
    fn revoke(&self, actor: &str, sessions: Vec<Session>) -> Result<Vec<Session>> {
        let first = sessions
            .first()
            .ok_or_else(|| not_found("sessions to revoke"))?;
        let resource = self.get_resource(&first.resource)?;
        let target_role = RoleArn::stored(&format!("session {}", first.id), &first.role_arn)?;
        // Usually one id; records from before emails were kept lowercase may differ in case.
        let mut user_ids: Vec<&str> = sessions
            .iter()
            .map(|s| s.assumed_role_id.as_str())
            .collect();
        user_ids.sort_unstable();
        user_ids.dedup();
        let now = clock::now(&self.platform);
        let written =
            revocation::policy(&user_ids, now, &uuid::Uuid::now_v7().simple().to_string());
        let settings = self.settings()?;
        let mut aws = Aws::new(&self.platform, settings);
        let result = (|| {
            let hop1 = aws.assume_resource(&resource, REVOCATION_SESSION)?;
            let iam = aws.iam(&hop1.credentials, &target_role);
            revocation::write(&iam, &written, now)?;
            self.sessions().mark_revoked(&sessions)
        })();
        let detail = format!(
            "revoked {} session(s) of {} (aws:userid {}) with inline policy {} on {}",
            sessions.len(),
            first.user,
            user_ids.join(", "),
            written.name,
            target_role.arn
        );
        let mut trail = Trail::new(aws.into_request_ids(), detail);
        trail.session = result.as_ref().ok().map(|_| first.id.clone());
        let entry = Entry::new(actor, "session.revoke").on(&first.resource, Some(&first.account));
        self.audit().record(entry, trail, result)
    }

    // ---- audit ----

    pub fn list_audit_events(
        &self,
        limit: Option<u32>,
        before: Option<&str>,
    ) -> Result<Page<AuditEvent>> {
        self.audit().list(limit, before)
    }

    // ---- the store ----

    /// One bounded batch of retention; audited when it removed anything.
    pub fn prune(&self, actor: &str) -> Result<PruneReport> {
        let retention = Retention::load(&self.platform)?;
        let result = retention::prune(&self.platform, &retention);
        match &result {
            Ok(report) if report.audit_events == 0 && report.sessions == 0 => result,
            Ok(report) => {
                let detail = format!(
                    "pruned {} audit event(s) and {} session(s) past retention{}",
                    report.audit_events,
                    report.sessions,
                    if report.more { "; more are due" } else { "" }
                );
                let trail = Trail::new(Vec::new(), detail);
                self.audit()
                    .record(Entry::new(actor, "store.prune"), trail, result)
            }
            Err(_) => {
                self.audit()
                    .record(Entry::new(actor, "store.prune"), Trail::default(), result)
            }
        }
    }

    pub fn migrate(&self, actor: &str) -> Result<MigrationReport> {
        layout::migrate(&self.platform, actor)
    }

    // ---- the parts ----

    fn settings(&self) -> Result<&Settings> {
        if let Some(settings) = self.settings.get() {
            return Ok(settings);
        }
        let settings = Settings::load(&self.platform)?;
        Ok(self.settings.get_or_init(|| settings))
    }

    fn catalog(&self) -> Result<&Catalog> {
        if let Some(catalog) = self.catalog.get() {
            return Ok(catalog);
        }
        let catalog = match self.platform.config("catalog")? {
            Some(text) if !text.trim().is_empty() => {
                Catalog::from_config(text, self.settings()?.external_id.as_deref())?
            }
            _ => Rc::new(Catalog::default()),
        };
        Ok(self.catalog.get_or_init(|| catalog).as_ref())
    }

    fn directory(&self) -> Result<Directory<'_>> {
        Ok(Directory::new(
            self.catalog()?,
            Records::new(self.platform.store()),
        ))
    }

    fn sessions(&self) -> Sessions<'_> {
        Sessions(&self.platform)
    }

    fn audit(&self) -> Audit<'_> {
        Audit(&self.platform)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccessRequest, Hop, Outcome};
    use crate::testing::{
        Fake, RESOURCE_ROLE, TARGET_ROLE, answer_a_grant, assumed, fake, hop1_answer, seed,
    };
    use std::collections::HashMap;

    fn form(request: &http::Request<Vec<u8>>) -> HashMap<String, String> {
        form_urlencoded::parse(request.body())
            .into_owned()
            .collect()
    }

    /// A failed grant stored no session; its audit event says how it failed.
    fn failed_without_a_session(
        broker: &Broker<&Fake>,
        action: &str,
        outcome: Outcome,
    ) -> AuditEvent {
        let everything = SessionFilter {
            active_only: false,
            ..crate::testing::every_session()
        };
        assert!(broker.list_sessions(everything).unwrap().items.is_empty());
        let event = broker
            .list_audit_events(Some(1), None)
            .unwrap()
            .items
            .remove(0);
        assert_eq!((event.action.as_str(), event.outcome), (action, outcome));
        event
    }

    /// The typed API's `access`: prepare, then grant.
    fn access(broker: &Broker<&Fake>, request: AccessRequest) -> Result<AccessGrant> {
        broker.access(broker.prepare(&request)?)
    }

    fn alice() -> AccessRequest {
        AccessRequest {
            resource: "prod".into(),
            account: "admin".into(),
            user: "alice@example.com".into(),
            region: None,
            service: None,
        }
    }

    #[test]
    fn access_chains_the_hops_and_records_the_session() {
        let fake = fake();
        seed(&fake);
        answer_a_grant(&fake, "2027-01-15T08:30:00.123Z");
        let broker = Broker::new(&fake);
        let grant = access(&broker, alice()).unwrap();

        let sent = fake.sent.borrow();
        assert_eq!(sent.len(), 3);
        let (hop1, hop2) = (form(&sent[0]), form(&sent[1]));
        assert_eq!(hop1["RoleArn"], RESOURCE_ROLE);
        assert_eq!(hop2["RoleArn"], TARGET_ROLE);
        assert_eq!(
            (hop1["ExternalId"].as_str(), hop2["ExternalId"].as_str()),
            ("proj-1", "proj-1")
        );
        assert_eq!(hop2["RoleSessionName"], "alice@example.com");
        assert_eq!(hop2["DurationSeconds"], "1800");
        assert_eq!(hop1["SourceIdentity"], "alice@example.com", "opted in");
        assert!(
            !hop2.contains_key("SourceIdentity"),
            "it follows the chain by itself"
        );
        assert!(
            sent[0].headers().get("x-amz-security-token").is_none(),
            "hop 1: base keys"
        );
        assert_eq!(
            sent[1].headers()["x-amz-security-token"],
            "ASIAHOP1-token",
            "hop 2: hop 1's token"
        );
        assert!(
            sent[2].uri().to_string().contains("ASIAHOP2"),
            "token for hop 2's credentials"
        );

        assert!(
            grant
                .url
                .starts_with("https://signin.test/federation?Action=login&Issuer=pam-aws&")
        );
        assert_eq!(grant.session.expires_at, "2027-01-15T08:30:00Z");
        assert_eq!(grant.session.status, SessionStatus::Active);
        assert_eq!(
            grant.session.source_identity.as_deref(),
            Some("alice@example.com")
        );
        let events = broker.list_audit_events(None, None).unwrap().items;
        assert_eq!(events[0].action, "access.grant");
        assert_eq!(events[0].request_ids, ["req-1", "req-2"]);
        let stored =
            String::from_utf8(fake.kv.borrow().values().flatten().copied().collect()).unwrap();
        for secret in [
            "base-secret",
            "ASIAHOP1-secret",
            "ASIAHOP2-secret",
            "ASIAHOP2-token",
            "tok\"",
        ] {
            assert!(!stored.contains(secret), "{secret} stored");
        }
    }

    #[test]
    fn status_follows_the_clock() {
        let fake = fake();
        seed(&fake);
        answer_a_grant(&fake, "2027-01-15T08:30:00Z");
        let broker = Broker::new(&fake);
        access(&broker, alice()).unwrap();
        let all = SessionFilter {
            active_only: false,
            ..crate::testing::every_session()
        };
        let active = SessionFilter {
            active_only: true,
            ..crate::testing::every_session()
        };
        fake.clock.set(1_800_000_000); // 2027-01-15T08:00:00Z
        assert_eq!(broker.list_sessions(active.clone()).unwrap().items.len(), 1);
        fake.clock.set(1_800_001_800); // 08:30, the expiry
        assert_eq!(
            broker.list_sessions(all).unwrap().items[0].status,
            SessionStatus::Expired
        );
        assert!(broker.list_sessions(active).unwrap().items.is_empty());
    }

    #[test]
    fn a_refused_hop_2_stores_no_session_and_audits_the_denial() {
        let fake = fake();
        seed(&fake);
        let denied = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error>\
                      <RequestId>req-denied</RequestId></ErrorResponse>";
        fake.answers
            .borrow_mut()
            .extend([hop1_answer(), (403, denied.to_string())]);
        let broker = Broker::new(&fake);
        let Err(Error::Aws(e)) = access(&broker, alice()) else {
            panic!("expected AccessDenied")
        };
        assert_eq!((e.hop, e.code.as_str()), (Hop::TargetRole, "AccessDenied"));
        let event = failed_without_a_session(&broker, "access.deny", Outcome::Denied);
        assert_eq!(event.request_ids, ["req-1", "req-denied"]);
    }

    #[test]
    fn throttling_is_retried_with_backoff_then_succeeds() {
        let fake = fake();
        seed(&fake);
        let throttled = "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
                         <RequestId>req-throttled</RequestId></ErrorResponse>";
        fake.answers.borrow_mut().extend([
            (400, throttled.to_string()),
            hop1_answer(),
            (502, "<html>bad gateway</html>".to_string()),
            assumed("PamTarget", "ASIAHOP2", "2027-01-15T08:30:00Z", "req-2"),
            (200, r#"{"SigninToken":"tok"}"#.to_string()),
        ]);
        let broker = Broker::new(&fake);
        access(&broker, alice()).unwrap();
        assert_eq!(fake.sent.borrow().len(), 5);
        assert_eq!(fake.slept.borrow().len(), 2, "one wait before each retry");
        let event = &broker.list_audit_events(Some(1), None).unwrap().items[0];
        assert_eq!(event.request_ids, ["req-throttled", "req-1", "req-2"]);
    }

    #[test]
    fn repeated_server_errors_give_up_after_the_configured_attempts() {
        let mut fake = fake();
        fake.config.insert("sts-max-attempts".into(), "4".into());
        seed(&fake);
        fake.answers
            .borrow_mut()
            .extend((0..4).map(|_| (503, "<html>unavailable</html>".to_string())));
        let broker = Broker::new(&fake);
        let Err(Error::Upstream(why)) = access(&broker, alice()) else {
            panic!("expected an upstream failure")
        };
        assert!(
            why.contains("503") && why.contains("after 4 attempts"),
            "{why}"
        );
        assert_eq!(fake.sent.borrow().len(), 4);
        failed_without_a_session(&broker, "access.fail", Outcome::Failure);
    }

    #[test]
    fn retries_stop_at_the_access_timeout() {
        let mut fake = fake();
        fake.config.insert("access-timeout".into(), "10s".into());
        fake.config.insert("sts-max-attempts".into(), "10".into());
        seed(&fake);
        fake.answers
            .borrow_mut()
            .extend((0..10).map(|_| (503, "<html>unavailable</html>".to_string())));
        // Each answer takes 4 seconds of the clock.
        fake.tick.set(4);
        let broker = Broker::new(&fake);
        let Err(Error::Timeout(why)) = access(&broker, alice()) else {
            panic!("expected a timeout")
        };
        assert!(why.contains("access-timeout"), "{why}");
        assert!(
            fake.sent.borrow().len() <= 3,
            "10s allows at most 3 four-second attempts"
        );
    }

    #[test]
    fn refusals_are_not_retried() {
        let fake = fake();
        seed(&fake);
        let denied = "<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>";
        fake.answers
            .borrow_mut()
            .push_back((403, denied.to_string()));
        let broker = Broker::new(&fake);
        assert!(matches!(access(&broker, alice()), Err(Error::Aws(_))));
        assert_eq!(fake.sent.borrow().len(), 1);
        assert!(fake.slept.borrow().is_empty());
    }

    #[test]
    fn a_bad_attempt_count_is_a_configuration_error() {
        let mut fake = fake();
        fake.config.insert("sts-max-attempts".into(), "0".into());
        seed(&fake);
        let Err(Error::Config(why)) = access(&Broker::new(&fake), alice()) else {
            panic!()
        };
        assert!(why.contains("sts-max-attempts"), "{why}");
    }

    #[test]
    fn invalid_input_is_refused_before_anything_happens() {
        let fake = fake();
        let broker = Broker::new(&fake);
        let input = NewResource {
            name: "prod".into(),
            role_arn: "arn:aws:iam::1:role/R".into(),
            external_id: None,
            source_identity: false,
        };
        assert!(matches!(
            broker.create_resource("op", input),
            Err(Error::InvalidInput(_))
        ));
        assert!(fake.sent.borrow().is_empty() && fake.kv.borrow().is_empty());
    }

    fn list_answer(names: &[&str]) -> (u16, String) {
        let members: String = names
            .iter()
            .map(|n| format!("<member>{n}</member>"))
            .collect();
        (
            200,
            format!(
                "<ListRolePoliciesResponse><ListRolePoliciesResult><PolicyNames>{members}</PolicyNames>\
                 <IsTruncated>false</IsTruncated></ListRolePoliciesResult></ListRolePoliciesResponse>"
            ),
        )
    }

    fn policy_answer(document: &str) -> (u16, String) {
        let encoded: String = form_urlencoded::byte_serialize(document.as_bytes()).collect();
        (
            200,
            format!(
                "<GetRolePolicyResponse><GetRolePolicyResult><PolicyDocument>{encoded}</PolicyDocument>\
                 </GetRolePolicyResult></GetRolePolicyResponse>"
            ),
        )
    }

    /// A granted session of Alice's, and a broker over the fake.
    fn granted(fake: &Fake) -> Session {
        seed(fake);
        answer_a_grant(fake, "2027-01-15T08:30:00Z");
        access(&Broker::new(fake), alice()).unwrap().session
    }

    #[test]
    fn revocation_writes_a_policy_of_its_own_and_prunes_only_expired_ones() {
        let fake = fake();
        let session = granted(&fake);
        let expired = "PamAwsRevoke-20270115T070000Z-old";
        let current = "PamAwsRevoke-20270115T083000Z-recent";
        fake.answers.borrow_mut().extend([
            hop1_answer(),
            list_answer(&["AWSRevokeOlderSessions", expired, current]),
            policy_answer(r#"{"Version":"2012-10-17","Statement":[]}"#),
            (200, String::new()), // delete of the expired one
            policy_answer(r#"{"Version":"2012-10-17","Statement":[]}"#),
            (200, String::new()), // put
        ]);
        let revoked = Broker::new(&fake)
            .revoke_session("ops@example.com", &session.id)
            .unwrap();
        assert_eq!(revoked.status, SessionStatus::Revoked);

        let sent = fake.sent.borrow();
        let calls: Vec<(String, String)> = sent[3..]
            .iter()
            .map(|r| {
                let f = form(r);
                (
                    f["Action"].clone(),
                    f.get("PolicyName").cloned().unwrap_or_default(),
                )
            })
            .collect();
        let actions: Vec<&str> = calls.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            actions,
            [
                "AssumeRole",
                "ListRolePolicies",
                "GetRolePolicy",
                "DeleteRolePolicy",
                "GetRolePolicy",
                "PutRolePolicy"
            ]
        );
        assert_eq!(calls[3].1, expired, "only the expired one is deleted");
        let put = form(sent.last().unwrap());
        assert!(
            put["PolicyName"].starts_with("PamAwsRevoke-20270115T090000Z-"),
            "{}",
            put["PolicyName"]
        );
        assert!(put["PolicyDocument"].contains("AROAEXAMPLE:alice@example.com"));
        assert!(
            !sent
                .iter()
                .any(|r| form(r).get("PolicyName").map(String::as_str)
                    == Some("AWSRevokeOlderSessions")
                    && form(r)["Action"] != "GetRolePolicy"),
            "others' policies are only read"
        );
    }

    #[test]
    fn a_revocation_past_the_size_limit_writes_nothing_and_leaves_the_session_active() {
        let fake = fake();
        let session = granted(&fake);
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}"}}]}}"#,
            "x".repeat(10_000)
        );
        fake.answers.borrow_mut().extend([
            hop1_answer(),
            list_answer(&["Big"]),
            policy_answer(&big),
        ]);
        let broker = Broker::new(&fake);
        let Err(Error::Conflict(why)) = broker.revoke_session("ops@example.com", &session.id)
        else {
            panic!("revoked past the limit")
        };
        assert!(why.contains("10240"), "{why}");
        assert!(
            !fake
                .sent
                .borrow()
                .iter()
                .any(|r| form(r).get("Action").map(String::as_str) == Some("PutRolePolicy")),
            "nothing written"
        );
        assert_eq!(
            broker.get_session(&session.id).unwrap().status,
            SessionStatus::Active
        );
        let event = broker
            .list_audit_events(Some(1), None)
            .unwrap()
            .items
            .remove(0);
        assert_eq!(
            (event.action.as_str(), event.outcome),
            ("session.revoke", Outcome::Failure)
        );
    }

    #[test]
    fn an_egress_refusal_is_not_retried() {
        let fake = fake();
        seed(&fake);
        fake.refuse_egress.set(true);
        let Err(Error::Upstream(why)) = access(&Broker::new(&fake), alice()) else {
            panic!("granted through a refused egress")
        };
        assert!(why.contains("egress"), "{why}");
        assert_eq!(fake.sent.borrow().len(), 1, "tried once");
    }

    #[test]
    fn issued_credentials_never_print_their_secrets() {
        let fake = fake();
        seed(&fake);
        fake.answers.borrow_mut().extend([
            hop1_answer(),
            assumed("PamTarget", "ASIAHOP2", "2027-01-15T08:30:00Z", "req-2"),
        ]);
        let issued = {
            let broker = Broker::new(&fake);
            broker.credentials(broker.prepare(&alice()).unwrap())
        }
        .unwrap();
        let printed = format!("{issued:?}");
        assert!(
            !printed.contains("ASIAHOP2-secret") && !printed.contains("ASIAHOP2-token"),
            "{printed}"
        );
        let grant = issued.into_grant();
        assert_eq!(grant.secret_access_key, "ASIAHOP2-secret");
        assert_eq!(grant.expiration, "2027-01-15T08:30:00Z");
    }
}
