//! What a grant (`access`, `credentials`) needs, checked and loaded before
//! anything is sent: the user, the account and its resource, both roles,
//! the role session name and the console page.

use crate::audit::{Entry, Trail};
use crate::aws::{self, RoleCall};
use crate::directory::Directory;
use crate::entries;
use crate::error::Result;
use crate::model::{AccessRequest, Account, Resource, Session};
use crate::session_name::role_session_name;
use crate::validate::{self, RoleArn};

pub struct Grant {
    /// The user's email, lowercase.
    pub user: String,
    pub resource: Resource,
    pub account: Account,
    resource_role: RoleArn,
    target_role: RoleArn,
    /// The user's email as STS takes it (`RoleSessionName`).
    pub session_name: String,
    region: Option<String>,
    page: Option<String>,
}

impl Grant {
    /// `authorize` sees the account first: a caller it refuses learns
    /// nothing more, and the refusal is what gets audited.
    pub fn prepare(
        directory: &Directory,
        request: &AccessRequest,
        authorize: impl FnOnce(&Account) -> Result<()>,
    ) -> Result<Grant> {
        let user = validate::user_email("user", &request.user)?;
        let account = directory.account(&request.resource, &request.account)?;
        authorize(&account)?;
        let resource = directory.resource(&request.resource)?;
        let resource_role = aws::resource_role(&resource)?;
        let target_role = RoleArn::stored(
            &format!("account {}/{}", resource.name, account.name),
            &account.role_arn,
        )?;
        entries::console_target(
            &target_role,
            request.region.as_deref(),
            request.service.as_deref(),
        )?;
        // The request's region and page win over the account's.
        let region = request.region.clone().or_else(|| account.region.clone());
        let page = request.service.clone().or_else(|| account.service.clone());
        Ok(Grant {
            session_name: role_session_name(&user),
            user,
            resource,
            account,
            resource_role,
            target_role,
            region,
            page,
        })
    }

    /// Hop 1: the Resource Role, as the user.
    pub fn hop1(&self) -> RoleCall<'_> {
        RoleCall::resource_role(&self.resource, &self.resource_role, &self.session_name)
    }

    /// Hop 2: the Target Role, as the user, for the account's duration.
    pub fn hop2(&self) -> RoleCall<'_> {
        RoleCall::target_role(
            &self.target_role,
            &self.session_name,
            &self.resource.external_id,
            self.account.session_duration_seconds,
        )
    }

    /// The sign-in endpoint of the roles' partition (or the configured one).
    pub fn federation_endpoint(&self, settings: &crate::settings::Settings) -> String {
        settings.federation_endpoint(self.target_role.partition)
    }

    /// Where the console opens.
    pub fn destination(&self) -> String {
        self.target_role
            .partition
            .console_destination(self.region.as_deref(), self.page.as_deref())
    }

    /// The audit entry of this grant as `action`.
    pub fn entry<'a>(&'a self, action: &'a str) -> Entry<'a> {
        Entry::new(&self.user, action).on(&self.resource.name, Some(&self.account.name))
    }

    /// What the audit keeps of this grant: every request id, and the
    /// session when one was granted.
    pub fn trail(action: &str, session: Option<&Session>, request_ids: Vec<String>) -> Trail {
        Trail {
            request_ids,
            session: session.map(|s| s.id.clone()),
            detail: session
                .map(|s| format!("{action} as {} until {}", s.assumed_role_arn, s.expires_at))
                .unwrap_or_default(),
        }
    }
}
