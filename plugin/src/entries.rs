//! Resource and account records built from checked input. The broker uses
//! them before proving the roles with AWS; the catalog uses them as is.

use crate::error::{Result, invalid};
use crate::model::{Account, NewAccount, NewResource, Resource};
use crate::validate::{self, RoleArn};

/// A resource record for `input`, or the rule it broke.
pub fn resource(
    input: &NewResource,
    default_external_id: Option<&str>,
    id: String,
    created_at: String,
) -> Result<Resource> {
    validate::name("name", &input.name)?;
    let arn = RoleArn::parse("role-arn", &input.role_arn)?;
    let external_id = input
        .external_id
        .as_deref()
        .or(default_external_id)
        .ok_or_else(|| {
            invalid(
                "external-id",
                "is required: pass one or set the external-id configuration key",
            )
        })?;
    validate::external_id("external-id", external_id)?;
    let resource = Resource {
        id,
        name: input.name.clone(),
        role_arn: input.role_arn.clone(),
        external_id: external_id.to_string(),
        aws_account_id: arn.account_id.clone(),
        partition: arn.partition.name().to_string(),
        source_identity: input.source_identity,
        created_at,
    };
    Ok(resource)
}

/// An account record for `input` under `resource`, or the rule it broke.
pub fn account(
    input: &NewAccount,
    resource: &Resource,
    id: String,
    created_at: String,
) -> Result<(Account, RoleArn)> {
    validate::name("name", &input.name)?;
    let arn = RoleArn::parse("role-arn", &input.role_arn)?;
    let resource_arn = RoleArn::stored(&format!("resource {}", resource.name), &resource.role_arn)?;
    if arn.partition != resource_arn.partition {
        return Err(invalid(
            "role-arn",
            "must be in the same partition as the resource's role",
        ));
    }
    let seconds = validate::session_duration("duration", &input.duration)?;
    if let Some(description) = &input.description {
        validate::description("description", description)?;
    }
    console_target(&arn, input.region.as_deref(), input.service.as_deref())?;
    for entry in &input.allow {
        validate::allow_entry("allow", entry)?;
    }
    let account = Account {
        id,
        resource: resource.name.clone(),
        name: input.name.clone(),
        description: input.description.clone(),
        role_arn: input.role_arn.clone(),
        session_duration: input.duration.trim().to_string(),
        session_duration_seconds: seconds,
        region: input.region.clone(),
        service: input.service.clone(),
        allow: input.allow.clone(),
        created_at,
    };
    Ok((account, arn))
}

/// Checks a console region (in the role's partition) and page.
pub fn console_target(role: &RoleArn, region: Option<&str>, service: Option<&str>) -> Result<()> {
    if let Some(region) = region {
        validate::region("region", region)?;
        if !role.partition.has_region(region) {
            return Err(invalid(
                "region",
                format!("must be a region of partition {}", role.partition.name()),
            ));
        }
    }
    if let Some(service) = service {
        validate::console_page("service", service)?;
    }
    Ok(())
}
