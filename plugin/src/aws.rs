//! One operation's calls to AWS: AssumeRole for hop 1 and hop 2, the
//! sign-in token, and revocation's IAM calls. Each is signed afresh per
//! attempt, retried as `retry` says within the operation's deadline, and
//! leaves its request ids for the audit event.

use crate::error::{Result, upstream};
use crate::federation;
use crate::iam::{self, PolicyCall};
use crate::model::{Error, Hop, Resource};
use crate::platform::Platform;
use crate::query::{Endpoint, Signer};
use crate::retry::{self, Deadline};
use crate::settings::Settings;
use crate::sts::{self, AssumeRole, AssumedRole};
use crate::validate::RoleArn;
use aws_credential_types::Credentials;
use std::time::SystemTime;

/// Hop 1's credentials only sign hop 2 and validations: the shortest STS allows.
const HOP1_SECONDS: u32 = 900;

/// One AssumeRole of the flow.
pub struct RoleCall<'a> {
    pub hop: Hop,
    pub role: &'a RoleArn,
    pub session_name: &'a str,
    pub external_id: &'a str,
    pub duration_seconds: u32,
    pub source_identity: Option<&'a str>,
}

impl<'a> RoleCall<'a> {
    /// Hop 1: `resource`'s role (parsed as `role`), for as short as STS
    /// allows, with its external id, and SourceIdentity (the session name)
    /// when the resource opts in.
    pub fn resource_role(resource: &'a Resource, role: &'a RoleArn, session_name: &'a str) -> Self {
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
    pub fn target_role(
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

/// AWS as one operation reaches it.
pub struct Aws<'a> {
    platform: &'a dyn Platform,
    settings: &'a Settings,
    deadline: Deadline,
    /// Every answer's request id, retries included, for the audit event.
    request_ids: Vec<String>,
}

impl<'a> Aws<'a> {
    /// The operation starts now: every call shares its `access-timeout`.
    pub fn new(platform: &'a dyn Platform, settings: &'a Settings) -> Self {
        Aws {
            platform,
            settings,
            deadline: Deadline::after(platform.now(), settings.access_timeout),
            request_ids: Vec::new(),
        }
    }

    pub fn into_request_ids(self) -> Vec<String> {
        self.request_ids
    }

    /// Hop 1 into `resource`'s role as `session_name`, for the operations
    /// that are not grants (proving roles, revoking).
    pub fn assume_resource(
        &mut self,
        resource: &Resource,
        session_name: &str,
    ) -> Result<AssumedRole> {
        let role = resource_role(resource)?;
        self.assume_resource_role(RoleCall::resource_role(resource, &role, session_name))
    }

    /// Hop 1 is always signed with the base credentials.
    pub fn assume_resource_role(&mut self, call: RoleCall) -> Result<AssumedRole> {
        let base = Settings::base_credentials(self.platform)?;
        self.assume_role_as(Signer::Base(&base), call)
    }

    /// A role assumed with credentials an earlier AssumeRole returned.
    pub fn assume_role(&mut self, signer: &Credentials, call: RoleCall) -> Result<AssumedRole> {
        self.assume_role_as(Signer::Assumed(signer), call)
    }

    fn assume_role_as(&mut self, signer: Signer, call: RoleCall) -> Result<AssumedRole> {
        let hop = call.hop;
        let role_arn = &call.role.arn;
        let endpoint = self.settings.sts_endpoint(call.role.partition)?;
        let request = AssumeRole {
            role_arn,
            session_name: call.session_name,
            external_id: call.external_id,
            duration_seconds: call.duration_seconds,
            source_identity: call.source_identity,
        };
        let ids = &mut self.request_ids;
        retry::send(
            self.platform,
            &self.settings.retry,
            self.deadline,
            hop,
            |now| sts::assume_role_request(&endpoint, signer, &request, now),
            |status, body| {
                let result = sts::read_assume_role_response(hop, role_arn, status, body)
                    .map_err(|e| name_the_region(e, &endpoint.region));
                match &result {
                    Ok(role) => ids.push(role.request_id.clone()),
                    Err(Error::Aws(e)) => ids.extend(e.request_id.clone()),
                    Err(_) => {}
                }
                result
            },
        )
    }

    /// A console sign-in token for `credentials` from `endpoint`.
    pub fn signin_token(&mut self, endpoint: &str, credentials: &Credentials) -> Result<String> {
        let url = federation::signin_token_url(endpoint, credentials)?;
        self.send(
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

    /// IAM about one Target Role, signed with `signer` (hop 1's credentials).
    pub fn iam<'b>(&'b self, signer: &'b Credentials, role: &'b RoleArn) -> Iam<'b, 'a> {
        Iam {
            aws: self,
            endpoint: self.settings.iam_endpoint(role.partition),
            signer,
            role,
        }
    }

    fn send<T>(
        &self,
        hop: Hop,
        build: impl Fn(SystemTime) -> Result<http::Request<Vec<u8>>>,
        read: impl FnMut(u16, &[u8]) -> Result<T>,
    ) -> Result<T> {
        retry::send(
            self.platform,
            &self.settings.retry,
            self.deadline,
            hop,
            build,
            read,
        )
    }
}

/// The inline-policy calls revocation makes on one Target Role.
pub struct Iam<'b, 'a> {
    aws: &'b Aws<'a>,
    endpoint: Endpoint,
    signer: &'b Credentials,
    role: &'b RoleArn,
}

impl Iam<'_, '_> {
    /// The Target Role these calls are about.
    pub fn role_arn(&self) -> &str {
        &self.role.arn
    }

    /// Every inline policy name of the role, page by page.
    pub fn list_role_policies(&self) -> Result<Vec<String>> {
        let role = self.role;
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.aws.send(
                Hop::Revocation,
                |now| {
                    let marker = marker.as_deref();
                    iam::list_role_policies(&self.endpoint, self.signer, &role.name, marker, now)
                },
                |status, body| iam::read_list_role_policies(&role.arn, status, body),
            )?;
            names.extend(page.names);
            match page.next {
                Some(next) => marker = Some(next),
                None => return Ok(names),
            }
        }
    }

    /// The policy's document, `None` when it is gone.
    pub fn get_role_policy(&self, name: &str) -> Result<Option<String>> {
        self.aws.send(
            Hop::Revocation,
            |now| self.policy_request(PolicyCall::Get, name, now),
            |status, body| iam::read_get_role_policy(&self.role.arn, status, body),
        )
    }

    /// Deletes the policy; one already gone is fine.
    pub fn delete_role_policy(&self, name: &str) -> Result<()> {
        self.aws.send(
            Hop::Revocation,
            |now| self.policy_request(PolicyCall::Delete, name, now),
            |status, body| iam::read_delete_role_policy(&self.role.arn, status, body),
        )
    }

    pub fn put_role_policy(&self, name: &str, document: &str) -> Result<()> {
        self.aws.send(
            Hop::Revocation,
            |now| {
                iam::put_role_policy(
                    &self.endpoint,
                    self.signer,
                    &self.role.name,
                    name,
                    document,
                    now,
                )
            },
            |status, body| iam::read_empty_answer(&self.role.arn, status, body),
        )
    }

    fn policy_request(
        &self,
        call: PolicyCall,
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

/// The stored resource's Resource Role.
pub fn resource_role(resource: &Resource) -> Result<RoleArn> {
    RoleArn::stored(&format!("resource {}", resource.name), &resource.role_arn)
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
