//! The broker: resources, accounts, access, sessions and audit, over any
//! [`Platform`]. `access` is the whole flow in one place.

use crate::catalog::Catalog;
use crate::error::{Result, not_found, timeout, upstream};
use crate::identity::Identity;
use crate::model::{
    AccessGrant, AccessRequest, Account, AuditEvent, CredentialsGrant, Error, Hop, NewAccount,
    NewResource, Outcome, Resource, Session, SessionFilter, SessionStatus,
};
use crate::platform::{Platform, SendError};
use crate::retry;
use crate::session_name::role_session_name;
use crate::settings::{self, Settings};
use crate::store::{Records, account_key, audit_key, resource_key, session_key};
use crate::sts::{self, AssumeRole, AssumedRole};
use crate::validate::{self, RoleArn};
use crate::{entries, federation, iam, policy, revocation};
use aws_credential_types::Credentials;
use std::cell::{Cell, OnceCell};
use std::time::SystemTime;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Hop 1's credentials only sign hop 2 and validations: the shortest STS allows.
const HOP1_SECONDS: u32 = 900;
/// The session name used when creating resources and accounts proves the roles.
pub const VALIDATION_SESSION: &str = "pam-aws-validation";
/// The session name hop 1 uses to write revocations.
pub const REVOCATION_SESSION: &str = "pam-aws-revocation";
const DEFAULT_AUDIT_LIMIT: u32 = 100;
/// What an audit event keeps of a name (an email is at most 254) and of its detail.
const AUDIT_NAME_CHARS: usize = 254;
const AUDIT_DETAIL_CHARS: usize = 2048;

/// One AssumeRole of the flow.
struct RoleCall<'a> {
    hop: Hop,
    role: &'a RoleArn,
    session_name: &'a str,
    external_id: &'a str,
    duration_seconds: u32,
    source_identity: Option<&'a str>,
}

impl<'a> RoleCall<'a> {
    /// Hop 1: `resource`'s role (parsed as `role`), for as short as STS
    /// allows, with its external id, and SourceIdentity (the session name)
    /// when the resource opts in.
    fn resource_role(resource: &'a Resource, role: &'a RoleArn, session_name: &'a str) -> Self {
        RoleCall {
            hop: Hop::ResourceRole,
            role,
            session_name,
            external_id: &resource.external_id,
            duration_seconds: HOP1_SECONDS,
            source_identity: resource.source_identity.then_some(session_name),
        }
    }

    /// Hop 2: the Target Role for `duration_seconds`; any SourceIdentity
    /// follows from hop 1 by itself.
    fn target_role(
        role: &'a RoleArn,
        session_name: &'a str,
        external_id: &'a str,
        duration_seconds: u32,
    ) -> Self {
        RoleCall {
            hop: Hop::TargetRole,
            role,
            session_name,
            external_id,
            duration_seconds,
            source_identity: None,
        }
    }
}

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
    pub fn into_grant(self) -> CredentialsGrant {
        let credentials = self.credentials;
        CredentialsGrant {
            access_key_id: credentials.access_key_id().to_string(),
            secret_access_key: credentials.secret_access_key().to_string(),
            session_token: credentials.session_token().unwrap_or_default().to_string(),
            expiration: self.session.expires_at.clone(),
            session: self.session,
        }
    }
}

/// IAM as revocation reaches it: signed by hop 1, about one Target Role.
struct Iam<'a> {
    endpoint: sts::Endpoint,
    signer: &'a Credentials,
    role: &'a RoleArn,
    settings: &'a Settings,
}

impl Iam<'_> {
    fn policy_request(
        &self,
        call: iam::PolicyCall,
        name: &str,
        now: SystemTime,
    ) -> Result<http::Request<Vec<u8>>> {
        iam::role_policy(
            call,
            &self.endpoint,
            self.signer,
            &self.role.name,
            name,
            now,
        )
    }
}

/// The account a grant is for, with its parsed Target Role.
struct Target {
    account: Account,
    role: RoleArn,
}

/// What an audited operation leaves in its audit event besides the outcome.
#[derive(Default)]
struct Trail {
    request_ids: Vec<String>,
    session: Option<String>,
    detail: String,
}

pub struct Broker<P> {
    platform: P,
    /// When the current audited operation began: its AWS calls share one deadline.
    started: Cell<Option<SystemTime>>,
    /// The `catalog` config key, parsed on first use.
    catalog: OnceCell<Catalog>,
}

impl<P: Platform> Broker<P> {
    pub fn new(platform: P) -> Self {
        Broker {
            platform,
            started: Cell::new(None),
            catalog: OnceCell::new(),
        }
    }

    fn catalog(&self) -> Result<&Catalog> {
        if let Some(catalog) = self.catalog.get() {
            return Ok(catalog);
        }
        let catalog = match self.platform.config("catalog")? {
            Some(text) if !text.trim().is_empty() => {
                let settings = Settings::load(&self.platform)?;
                let text = settings::unwrap_base64("catalog", text)?;
                Catalog::parse(&text, settings.external_id.as_deref())?
            }
            _ => Catalog::default(),
        };
        Ok(self.catalog.get_or_init(|| catalog))
    }

    fn records(&self) -> Records<'_> {
        Records::new(self.platform.store())
    }

    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from(self.platform.now())
            .replace_nanosecond(0)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn timestamp(&self) -> String {
        rfc3339(self.now())
    }

    // ---- resources ----

    pub fn create_resource(&self, actor: &str, input: NewResource) -> Result<Resource> {
        let settings = Settings::load(&self.platform)?;
        let (resource, arn) = entries::resource(
            &input,
            settings.external_id.as_deref(),
            new_id(),
            self.timestamp(),
        )?;
        let key = resource_key(&resource.name);
        if self.catalog()?.resource(&resource.name).is_some()
            || self.records().get::<Resource>(&key)?.is_some()
        {
            return Err(Error::Conflict(format!(
                "resource {} already exists",
                resource.name
            )));
        }
        self.audited(
            actor,
            "resource.create",
            Some(&resource.name),
            None,
            |trail| {
                // Prove hop 1 works before anything is stored.
                let hop1 = RoleCall::resource_role(&resource, &arn, VALIDATION_SESSION);
                self.assume_resource_role(&settings, hop1, trail)?;
                self.records().put(&key, &resource)?;
                trail.detail = format!("Resource Role {} assumed and stored", resource.role_arn);
                Ok(resource.clone())
            },
        )
    }

    /// Catalog entries first, then stored ones the catalog does not shadow.
    pub fn list_resources(&self) -> Result<Vec<Resource>> {
        let catalog = self.catalog()?;
        let mut resources = catalog.resources.clone();
        resources.extend(
            self.records()
                .list::<Resource>(&resource_key(""))?
                .into_iter()
                .filter(|r| catalog.resource(&r.name).is_none()),
        );
        Ok(resources)
    }

    pub fn get_resource(&self, name: &str) -> Result<Resource> {
        validate::name("resource", name)?;
        if let Some(resource) = self.catalog()?.resource(name) {
            return Ok(resource.clone());
        }
        self.records()
            .get(&resource_key(name))?
            .ok_or_else(|| not_found(format!("resource {name}")))
    }

    pub fn delete_resource(&self, actor: &str, name: &str) -> Result<()> {
        self.get_resource(name)?;
        if self.catalog()?.resource(name).is_some() {
            return Err(read_only(format!("resource {name}")));
        }
        let accounts = self.records().keys(&account_key(name, ""))?;
        if !accounts.is_empty() {
            return Err(Error::Conflict(format!(
                "resource {name} still has {} account(s): delete them first",
                accounts.len()
            )));
        }
        self.audited(actor, "resource.delete", Some(name), None, |trail| {
            self.records().delete(&resource_key(name))?;
            trail.detail = format!("resource {name} deleted");
            Ok(())
        })
    }

    // ---- accounts ----

    pub fn create_account(&self, actor: &str, input: NewAccount) -> Result<Account> {
        let resource = self.get_resource(&input.resource)?;
        let resource_arn = RoleArn::parse("role-arn", &resource.role_arn)?;
        let (account, arn) = entries::account(&input, &resource, new_id(), self.timestamp())?;
        let key = account_key(&resource.name, &account.name);
        if self
            .catalog()?
            .account(&resource.name, &account.name)
            .is_some()
            || self.records().get::<Account>(&key)?.is_some()
        {
            return Err(Error::Conflict(format!(
                "account {}/{} already exists",
                resource.name, account.name
            )));
        }
        let settings = Settings::load(&self.platform)?;
        self.audited(
            actor,
            "account.create",
            Some(&resource.name),
            Some(&account.name),
            |trail| {
                // Prove both hops work, with the account's duration, before storing.
                let hop1 = RoleCall::resource_role(&resource, &resource_arn, VALIDATION_SESSION);
                let hop1 = self.assume_resource_role(&settings, hop1, trail)?;
                let hop2 = RoleCall::target_role(
                    &arn,
                    VALIDATION_SESSION,
                    &resource.external_id,
                    account.session_duration_seconds,
                );
                self.assume_role(&settings, &hop1.credentials, hop2, trail)?;
                self.records().put(&key, &account)?;
                trail.detail = format!(
                    "both hops into {} succeeded; account stored",
                    account.role_arn
                );
                Ok(account.clone())
            },
        )
    }

    /// Catalog entries first, then stored ones the catalog does not shadow.
    pub fn list_accounts(&self, resource: Option<&str>) -> Result<Vec<Account>> {
        let prefix = match resource {
            Some(name) => account_key(&self.get_resource(name)?.name, ""),
            None => "account/".to_string(),
        };
        let catalog = self.catalog()?;
        let in_scope = |a: &Account| resource.is_none_or(|name| a.resource == name);
        let mut accounts: Vec<Account> = catalog
            .accounts
            .iter()
            .filter(|a| in_scope(a))
            .cloned()
            .collect();
        accounts.extend(
            self.records()
                .list::<Account>(&prefix)?
                .into_iter()
                .filter(|a| catalog.account(&a.resource, &a.name).is_none()),
        );
        Ok(accounts)
    }

    pub fn get_account(&self, resource: &str, name: &str) -> Result<Account> {
        validate::name("resource", resource)?;
        validate::name("account", name)?;
        if let Some(account) = self.catalog()?.account(resource, name) {
            return Ok(account.clone());
        }
        self.records()
            .get(&account_key(resource, name))?
            .ok_or_else(|| not_found(format!("account {resource}/{name}")))
    }

    pub fn delete_account(&self, actor: &str, resource: &str, name: &str) -> Result<()> {
        self.get_account(resource, name)?;
        if self.catalog()?.account(resource, name).is_some() {
            return Err(read_only(format!("account {resource}/{name}")));
        }
        self.audited(
            actor,
            "account.delete",
            Some(resource),
            Some(name),
            |trail| {
                self.records().delete(&account_key(resource, name))?;
                trail.detail = format!("account {resource}/{name} deleted");
                Ok(())
            },
        )
    }

    // ---- access: the flow ----

    /// Hop 1, hop 2, then a console sign-in URL for hop 2's credentials.
    pub fn access(&self, request: AccessRequest) -> Result<AccessGrant> {
        self.console_grant(request, None)
    }

    /// `access` for a REST caller: the account's `allow` policy decides,
    /// and a refusal is audited as `access.deny`.
    pub fn access_as(&self, caller: &Identity, request: AccessRequest) -> Result<AccessGrant> {
        self.console_grant(request, Some(caller))
    }

    fn console_grant(
        &self,
        request: AccessRequest,
        caller: Option<&Identity>,
    ) -> Result<AccessGrant> {
        let (url, session) =
            self.chained(&request, caller, "access", |settings, target, hop2| {
                // The request's region and page win over the account's.
                let region = request
                    .region
                    .as_deref()
                    .or(target.account.region.as_deref());
                let service = request
                    .service
                    .as_deref()
                    .or(target.account.service.as_deref());
                let partition = target.role.partition;
                // Sign-in token for hop 2's credentials, then the login URL.
                let federation_endpoint = settings.federation_endpoint(partition);
                let token = self.signin_token(settings, &federation_endpoint, &hop2.credentials)?;
                let destination = partition.console_destination(region, service);
                federation::login_url(&federation_endpoint, &settings.issuer, &destination, &token)
            })?;
        Ok(AccessGrant { url, session })
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
        let denial = Error::Forbidden(why);
        self.audited(actor, action, resource, account, |_| {
            Err::<(), _>(denial.clone())
        })
        .err()
        .unwrap_or(denial)
    }

    /// Hop 1 and hop 2 without the console: hop 2's credentials, for the
    /// AWS CLI's `credential_process`. Recorded and audited like `access`.
    pub fn credentials(&self, request: AccessRequest) -> Result<IssuedCredentials> {
        let (credentials, session) =
            self.chained(&request, None, "credentials", |_, _, hop2| {
                Ok(hop2.credentials.clone())
            })?;
        Ok(IssuedCredentials {
            credentials,
            session,
        })
    }

    /// The chain both grants share: the account's policy when a REST
    /// `caller` asks, hop 1 (Resource Role), hop 2 (Target Role, the user's
    /// session name, the account's duration), `finish` with hop 2's
    /// credentials, then the session record and audit event.
    fn chained<T>(
        &self,
        request: &AccessRequest,
        caller: Option<&Identity>,
        action: &str,
        finish: impl FnOnce(&Settings, &Target, &AssumedRole) -> Result<T>,
    ) -> Result<(T, Session)> {
        let user = validate::user_email("user", &request.user)?;
        let account = self.get_account(&request.resource, &request.account)?;
        if let Some(caller) = caller
            && !policy::may_use(caller, &account)
        {
            return Err(self.refuse(
                &caller.email,
                action,
                Some(&request.resource),
                Some(&request.account),
                format!(
                    "{} is not allowed to use account {}/{} (not in its allow policy)",
                    caller.email, request.resource, request.account
                ),
            ));
        }
        let resource = self.get_resource(&request.resource)?;
        let resource_arn = RoleArn::parse("role-arn", &resource.role_arn)?;
        let target = Target {
            role: RoleArn::parse("role-arn", &account.role_arn)?,
            account,
        };
        entries::console_target(
            &target.role,
            request.region.as_deref(),
            request.service.as_deref(),
        )?;
        let settings = Settings::load(&self.platform)?;
        let session_name = role_session_name(&user);
        // Set on hop 1, AWS carries it through hop 2 into CloudTrail.
        let source_identity = resource.source_identity.then_some(session_name.as_str());

        self.audited(
            &user,
            action,
            Some(&resource.name),
            Some(&target.account.name),
            |trail| {
                // Hop 1: the Resource Role, signed with the base credentials.
                let hop1 = RoleCall::resource_role(&resource, &resource_arn, &session_name);
                let hop1 = self.assume_resource_role(&settings, hop1, trail)?;
                // Hop 2: role chaining into the Target Role, as the user, for the account's duration.
                let hop2 = RoleCall::target_role(
                    &target.role,
                    &session_name,
                    &resource.external_id,
                    target.account.session_duration_seconds,
                );
                let hop2 = self.assume_role(&settings, &hop1.credentials, hop2, trail)?;
                let granted = finish(&settings, &target, &hop2)?;

                // Record the session; the credentials are dropped here, never stored.
                let session = Session {
                    id: new_id(),
                    resource: resource.name.clone(),
                    account: target.account.name.clone(),
                    user: user.clone(),
                    role_arn: target.account.role_arn.clone(),
                    assumed_role_arn: hop2.arn.clone(),
                    assumed_role_id: hop2.assumed_role_id.clone(),
                    role_session_name: session_name.clone(),
                    source_identity: source_identity.map(str::to_string),
                    created_at: self.timestamp(),
                    expires_at: normalise_time(&hop2.expiration)?,
                    status: SessionStatus::Active,
                };
                self.records().put(&session_key(&session.id), &session)?;
                trail.session = Some(session.id.clone());
                trail.detail = format!(
                    "{action} as {} until {}",
                    session.assumed_role_arn, session.expires_at
                );
                Ok((granted, session))
            },
        )
    }

    // ---- revocation ----

    /// One session, with its status as of now.
    pub fn get_session(&self, id: &str) -> Result<Session> {
        let mut session = self
            .records()
            .get::<Session>(&session_key(id))?
            .ok_or_else(|| not_found(format!("session {id}")))?;
        session.status = status_at(&session, self.now());
        Ok(session)
    }

    pub fn revoke_session(&self, actor: &str, id: &str) -> Result<Session> {
        let session = self.get_session(id)?;
        if session.status != SessionStatus::Active {
            return Err(Error::Conflict(format!(
                "session {id} is already {}",
                if session.status == SessionStatus::Revoked {
                    "revoked"
                } else {
                    "expired"
                }
            )));
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
        };
        let sessions: Vec<Session> = self
            .list_sessions(filter)?
            .into_iter()
            .filter(|s| s.resource == resource && s.account == account)
            .collect();
        if sessions.is_empty() {
            return Err(not_found(format!(
                "active sessions of {user} on {resource}/{account}"
            )));
        }
        self.revoke(actor, sessions)
    }

    /// Denies the sessions' `aws:userid` every token issued until now, with
    /// an inline policy of this revocation's own on the Target Role (see
    /// `revocation`: no read-modify-write, so concurrent revocations never
    /// lose each other's denies), then marks the sessions revoked.
    fn revoke(&self, actor: &str, sessions: Vec<Session>) -> Result<Vec<Session>> {
        let first = sessions
            .first()
            .ok_or_else(|| not_found("sessions to revoke"))?;
        let (resource_name, account_name) = (first.resource.clone(), first.account.clone());
        let resource = self.get_resource(&resource_name)?;
        let resource_arn = RoleArn::parse("role-arn", &resource.role_arn)?;
        let target = RoleArn::parse("role-arn", &first.role_arn)?;
        // Usually one id; records from before emails were kept lowercase may differ in case.
        let mut user_ids: Vec<&str> = sessions
            .iter()
            .map(|s| s.assumed_role_id.as_str())
            .collect();
        user_ids.sort_unstable();
        user_ids.dedup();
        let settings = Settings::load(&self.platform)?;

        self.audited(
            actor,
            "session.revoke",
            Some(&resource_name),
            Some(&account_name),
            |trail| {
                let hop1 = RoleCall::resource_role(&resource, &resource_arn, REVOCATION_SESSION);
                let hop1 = self.assume_resource_role(&settings, hop1, trail)?;
                let iam = Iam {
                    endpoint: iam::endpoint(target.partition, settings.iam_endpoint.as_deref()),
                    signer: &hop1.credentials,
                    role: &target,
                    settings: &settings,
                };
                let unique = uuid::Uuid::now_v7().simple().to_string();
                let written = revocation::policy(&user_ids, self.now(), &unique);
                let in_use = self.prune_and_measure(&iam)?;
                revocation::check_room(&target.arn, in_use, &written)?;
                self.send_retrying(
                    &settings,
                    Hop::Revocation,
                    |now| {
                        iam::put_role_policy(
                            &iam.endpoint,
                            iam.signer,
                            &target.name,
                            &written.name,
                            &written.document,
                            now,
                        )
                    },
                    |status, body| iam::read_empty_answer(&target.arn, status, body),
                )?;
                let denied = user_ids.join(", ");
                let mut revoked = Vec::new();
                for mut session in sessions.iter().cloned() {
                    session.status = SessionStatus::Revoked;
                    self.records().put(&session_key(&session.id), &session)?;
                    revoked.push(session);
                }
                trail.session = revoked.first().map(|s| s.id.clone());
                trail.detail = format!(
                    "revoked {} session(s) of {} (aws:userid {denied}) with inline policy {} on {}",
                    revoked.len(),
                    revoked.first().map(|s| s.user.as_str()).unwrap_or_default(),
                    written.name,
                    target.arn
                );
                Ok(revoked)
            },
        )
    }

    /// Deletes our revocation policies on the role whose tokens have all
    /// expired, and returns how many characters the remaining inline
    /// policies take of IAM's limit.
    fn prune_and_measure(&self, iam: &Iam) -> Result<usize> {
        let (role, settings) = (iam.role, iam.settings);
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.send_retrying(
                settings,
                Hop::Revocation,
                |now| {
                    iam::list_role_policies(
                        &iam.endpoint,
                        iam.signer,
                        &role.name,
                        marker.as_deref(),
                        now,
                    )
                },
                |status, body| iam::read_list_role_policies(&role.arn, status, body),
            )?;
            names.extend(page.names);
            match page.next {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        let now = self.now();
        let mut in_use = 0;
        for name in names {
            if revocation::is_prunable(&name, now) {
                self.send_retrying(
                    settings,
                    Hop::Revocation,
                    |now| iam.policy_request(iam::PolicyCall::Delete, &name, now),
                    |status, body| iam::read_delete_role_policy(&role.arn, status, body),
                )?;
                continue;
            }
            let document = self.send_retrying(
                settings,
                Hop::Revocation,
                |now| iam.policy_request(iam::PolicyCall::Get, &name, now),
                |status, body| iam::read_get_role_policy(&role.arn, status, body),
            )?;
            in_use += document.as_deref().map_or(0, revocation::size);
        }
        Ok(in_use)
    }

    /// Hop 1 is always signed with the base credentials.
    fn assume_resource_role(
        &self,
        settings: &Settings,
        call: RoleCall,
        trail: &mut Trail,
    ) -> Result<AssumedRole> {
        let base = Settings::base_credentials(&self.platform)?;
        self.assume_role(settings, &base, call, trail)
    }

    fn assume_role(
        &self,
        settings: &Settings,
        signer: &Credentials,
        call: RoleCall,
        trail: &mut Trail,
    ) -> Result<AssumedRole> {
        let RoleCall {
            hop,
            role,
            session_name,
            external_id,
            duration_seconds,
            source_identity,
        } = call;
        let role_arn = &role.arn;
        let endpoint = settings.sts_endpoint(role.partition)?;
        let call = AssumeRole {
            role_arn,
            session_name,
            external_id,
            duration_seconds,
            source_identity,
        };
        self.send_retrying(
            settings,
            hop,
            |now| sts::assume_role_request(&endpoint, signer, &call, now),
            |status, body| {
                let result = sts::read_assume_role_response(hop, role_arn, status, body)
                    .map_err(|e| name_the_region(e, &endpoint.region));
                match &result {
                    Ok(role) => trail.request_ids.push(role.request_id.clone()),
                    Err(Error::Aws(e)) => trail.request_ids.extend(e.request_id.clone()),
                    Err(_) => {}
                }
                result
            },
        )
    }

    fn signin_token(
        &self,
        settings: &Settings,
        endpoint: &str,
        credentials: &Credentials,
    ) -> Result<String> {
        let url = federation::signin_token_url(endpoint, credentials)?;
        self.send_retrying(
            settings,
            Hop::SigninToken,
            |_now| {
                http::Request::get(&url).body(Vec::new()).map_err(|_| {
                    upstream(format!(
                        "{}: the federation endpoint is not a valid URL",
                        Hop::SigninToken
                    ))
                })
            },
            federation::read_signin_token,
        )
    }

    /// Sends what `build` makes (signed afresh for every attempt) and reads
    /// the answer with `read`, retrying throttling, 429/5xx and connection
    /// failures with backoff, as `settings.retry` says.
    fn send_retrying<T>(
        &self,
        settings: &Settings,
        hop: Hop,
        build: impl Fn(SystemTime) -> Result<http::Request<Vec<u8>>>,
        mut read: impl FnMut(u16, &[u8]) -> Result<T>,
    ) -> Result<T> {
        let policy = &settings.retry;
        let limit = settings.access_timeout;
        let deadline = self.started.get().unwrap_or_else(|| self.platform.now()) + limit;
        let mut attempt = 1;
        loop {
            let now = self.platform.now();
            if now >= deadline {
                return Err(timeout(format!(
                    "{hop}: not sent, the operation already took longer than access-timeout ({}s)",
                    limit.as_secs()
                )));
            }
            let request = build(now)?;
            let (result, retryable) = match self.platform.send(request) {
                Err(SendError::TimedOut(why)) => (Err(timeout(format!("{hop}: {why}"))), true),
                Err(SendError::Failed(why)) => (Err(upstream(format!("{hop}: {why}"))), true),
                Err(SendError::Refused(why)) => (Err(upstream(format!("{hop}: {why}"))), false),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let result = read(status, response.body());
                    let retryable = match &result {
                        Ok(_) => false,
                        Err(Error::Aws(e)) => retry::is_retryable(status, Some(&e.code)),
                        Err(_) => retry::is_retryable(status, None),
                    };
                    (result, retryable)
                }
            };
            if !retryable || attempt >= policy.max_attempts {
                return match result {
                    Err(Error::Upstream(why)) if attempt > 1 => Err(upstream(format!(
                        "{why} (gave up after {attempt} attempts)"
                    ))),
                    Err(Error::Timeout(why)) if attempt > 1 => {
                        Err(timeout(format!("{why} (gave up after {attempt} attempts)")))
                    }
                    other => other,
                };
            }
            let delay = policy.delay(attempt - 1, getrandom::u64().unwrap_or_default());
            if self.platform.now() + delay >= deadline {
                return match result {
                    Err(Error::Upstream(why) | Error::Timeout(why)) => Err(timeout(format!(
                        "{why} (stopped retrying: access-timeout of {}s reached)",
                        limit.as_secs()
                    ))),
                    other => other,
                };
            }
            self.platform.sleep(delay);
            attempt += 1;
        }
    }

    // ---- sessions and audit ----

    pub fn list_sessions(&self, filter: SessionFilter) -> Result<Vec<Session>> {
        let user = filter
            .user
            .as_deref()
            .map(|user| validate::user_email("user", user))
            .transpose()?;
        let now = self.now();
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

    pub fn list_audit_events(&self, limit: Option<u32>) -> Result<Vec<AuditEvent>> {
        let limit = validate::page_limit("limit", limit.unwrap_or(DEFAULT_AUDIT_LIMIT))? as usize;
        let records = self.records();
        let mut events = Vec::new();
        for key in records.keys(&audit_key(""))?.iter().rev().take(limit) {
            events.extend(records.get::<AuditEvent>(key)?);
        }
        Ok(events)
    }

    /// Runs `operation` and records its audit event, whatever the outcome.
    /// A success that cannot be audited is reported as a storage failure:
    /// nothing is granted without a trace.
    fn audited<T>(
        &self,
        actor: &str,
        action: &str,
        resource: Option<&str>,
        account: Option<&str>,
        operation: impl FnOnce(&mut Trail) -> Result<T>,
    ) -> Result<T> {
        let mut trail = Trail::default();
        self.started.set(Some(self.platform.now()));
        let result = operation(&mut trail);
        self.started.set(None);
        let (outcome, detail) = match &result {
            Ok(_) => (Outcome::Success, trail.detail),
            Err(e) if e.is_denial() => (Outcome::Denied, e.message()),
            Err(e) => (Outcome::Failure, e.message()),
        };
        // Grants (`access`, `credentials`) say what happened in their name,
        // as gateways filter on it: `access.grant`, `access.deny`, `access.fail`.
        let action = match (action.contains('.'), &outcome) {
            (true, _) => action.to_string(),
            (false, Outcome::Success) => format!("{action}.grant"),
            (false, Outcome::Denied) => format!("{action}.deny"),
            (false, Outcome::Failure) => format!("{action}.fail"),
        };
        // Names and messages may come straight from a refused request.
        let event = AuditEvent {
            id: new_id(),
            time: self.timestamp(),
            action,
            actor: validate::printable(actor, AUDIT_NAME_CHARS),
            resource: resource.map(|name| validate::printable(name, AUDIT_NAME_CHARS)),
            account: account.map(|name| validate::printable(name, AUDIT_NAME_CHARS)),
            session: trail.session,
            outcome,
            detail: validate::printable(&detail, AUDIT_DETAIL_CHARS),
            request_ids: trail.request_ids,
        };
        self.records().put(&audit_key(&event.id), &event)?;
        result
    }
}

/// `RegionDisabledException` is fixed in one place: say which region.
fn name_the_region(error: Error, region: &str) -> Error {
    match error {
        Error::Aws(mut e) if e.code == "RegionDisabledException" => {
            e.hint = format!(
                "STS is not activated in {region} for this account: activate it (IAM > Account settings > \
                 Security Token Service) or set sts-region to an active region"
            );
            Error::Aws(e)
        }
        other => other,
    }
}

/// Catalog entries change only with the configuration.
fn read_only(what: String) -> Error {
    Error::Conflict(format!(
        "{what} is declared in the catalog configuration and is read-only there"
    ))
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// STS's `Expiration` as our RFC 3339 UTC form.
fn normalise_time(text: &str) -> Result<String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| {
            rfc3339(
                t.to_offset(time::UtcOffset::UTC)
                    .replace_nanosecond(0)
                    .unwrap_or(t),
            )
        })
        .map_err(|_| {
            upstream(format!(
                "{}: STS returned an Expiration that is not RFC 3339",
                Hop::TargetRole
            ))
        })
}

/// Whether two recorded emails are one user (records written before emails
/// were stored lowercase compare alike too).
pub fn same_user(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// Status from the clock: revoked stays revoked, otherwise active until `expires_at`.
fn status_at(session: &Session, now: OffsetDateTime) -> SessionStatus {
    if session.status == SessionStatus::Revoked {
        return SessionStatus::Revoked;
    }
    match OffsetDateTime::parse(&session.expires_at, &Rfc3339) {
        Ok(expires) if now < expires => SessionStatus::Active,
        _ => SessionStatus::Expired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            user: None,
        };
        assert!(broker.list_sessions(everything).unwrap().is_empty());
        let event = broker.list_audit_events(Some(1)).unwrap().remove(0);
        assert_eq!((event.action.as_str(), event.outcome), (action, outcome));
        event
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
        let grant = broker.access(alice()).unwrap();

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
        let events = broker.list_audit_events(None).unwrap();
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
        broker.access(alice()).unwrap();
        let all = SessionFilter {
            active_only: false,
            user: None,
        };
        let active = SessionFilter {
            active_only: true,
            user: None,
        };
        fake.clock.set(1_800_000_000); // 2027-01-15T08:00:00Z
        assert_eq!(broker.list_sessions(active.clone()).unwrap().len(), 1);
        fake.clock.set(1_800_001_800); // 08:30, the expiry
        assert_eq!(
            broker.list_sessions(all).unwrap()[0].status,
            SessionStatus::Expired
        );
        assert!(broker.list_sessions(active).unwrap().is_empty());
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
        let Err(Error::Aws(e)) = broker.access(alice()) else {
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
        broker.access(alice()).unwrap();
        assert_eq!(fake.sent.borrow().len(), 5);
        assert_eq!(fake.slept.borrow().len(), 2, "one wait before each retry");
        let event = &broker.list_audit_events(Some(1)).unwrap()[0];
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
        let Err(Error::Upstream(why)) = broker.access(alice()) else {
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
        let Err(Error::Timeout(why)) = broker.access(alice()) else {
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
        assert!(matches!(broker.access(alice()), Err(Error::Aws(_))));
        assert_eq!(fake.sent.borrow().len(), 1);
        assert!(fake.slept.borrow().is_empty());
    }

    #[test]
    fn a_bad_attempt_count_is_a_configuration_error() {
        let mut fake = fake();
        fake.config.insert("sts-max-attempts".into(), "0".into());
        seed(&fake);
        let Err(Error::Config(why)) = Broker::new(&fake).access(alice()) else {
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
        Broker::new(fake).access(alice()).unwrap().session
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
        let event = broker.list_audit_events(Some(1)).unwrap().remove(0);
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
        let Err(Error::Upstream(why)) = Broker::new(&fake).access(alice()) else {
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
        let issued = Broker::new(&fake).credentials(alice()).unwrap();
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
