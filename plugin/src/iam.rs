//! The IAM calls revocation needs (query API, version 2010-05-08):
//! list, read, write and delete a role's inline policies, SigV4-signed for
//! service `iam`, and their answers.

use crate::error::Result;
use crate::model::{Error, Hop};
use crate::query::{self, Endpoint, Signer};
use crate::xml::Document;
use aws_credential_types::Credentials;
use std::time::SystemTime;

/// A call about one named inline policy of a role that carries nothing else.
#[derive(Clone, Copy)]
pub enum PolicyCall {
    Get,
    Delete,
}

pub fn role_policy(
    call: PolicyCall,
    endpoint: &Endpoint,
    signer: &Credentials,
    role_name: &str,
    policy_name: &str,
    now: SystemTime,
) -> Result<http::Request<Vec<u8>>> {
    let action = match call {
        PolicyCall::Get => "GetRolePolicy",
        PolicyCall::Delete => "DeleteRolePolicy",
    };
    let params = [("RoleName", role_name), ("PolicyName", policy_name)];
    request(endpoint, signer, action, &params, now)
}

pub fn put_role_policy(
    endpoint: &Endpoint,
    signer: &Credentials,
    role_name: &str,
    policy_name: &str,
    document: &str,
    now: SystemTime,
) -> Result<http::Request<Vec<u8>>> {
    let params = [
        ("RoleName", role_name),
        ("PolicyName", policy_name),
        ("PolicyDocument", document),
    ];
    request(endpoint, signer, "PutRolePolicy", &params, now)
}

/// The current document, `None` when the role has no such policy yet.
pub fn read_get_role_policy(role_arn: &str, status: u16, body: &[u8]) -> Result<Option<String>> {
    let read = |doc: &Document| doc.require("GetRolePolicyResult/PolicyDocument");
    let encoded = match query::read_answer(
        Hop::Revocation,
        "GetRolePolicy",
        role_arn,
        status,
        body,
        read,
    ) {
        Ok(encoded) => encoded,
        Err(Error::Aws(e)) if e.code == "NoSuchEntity" => return Ok(None),
        Err(other) => return Err(other),
    };
    // IAM returns the document URL-encoded.
    let decoded = form_urlencoded::parse(format!("d={encoded}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    Ok(Some(decoded))
}

pub fn list_role_policies(
    endpoint: &Endpoint,
    signer: &Credentials,
    role_name: &str,
    marker: Option<&str>,
    now: SystemTime,
) -> Result<http::Request<Vec<u8>>> {
    let mut params = vec![("RoleName", role_name)];
    params.extend(marker.map(|marker| ("Marker", marker)));
    request(endpoint, signer, "ListRolePolicies", &params, now)
}

/// An IAM query request, signed with hop 1's credentials (an AssumeRole's,
/// so their signing key is never kept).
fn request(
    endpoint: &Endpoint,
    signer: &Credentials,
    action: &str,
    params: &[(&str, &str)],
    now: SystemTime,
) -> Result<http::Request<Vec<u8>>> {
    let signer = Signer::Assumed(signer);
    query::request(query::IAM, endpoint, signer, action, params, now)
}

/// One page of a role's inline policy names, and the marker of the next.
pub struct PolicyNamesPage {
    pub names: Vec<String>,
    pub next: Option<String>,
}

pub fn read_list_role_policies(
    role_arn: &str,
    status: u16,
    body: &[u8],
) -> Result<PolicyNamesPage> {
    query::read_answer(
        Hop::Revocation,
        "ListRolePolicies",
        role_arn,
        status,
        body,
        |doc| {
            let result = |name: &str| doc.get(&format!("ListRolePoliciesResult/{name}"));
            let truncated = result("IsTruncated").is_some_and(|text| text == "true");
            Ok(PolicyNamesPage {
                names: doc
                    .all("ListRolePoliciesResult/PolicyNames/member")
                    .map(str::to_string)
                    .collect(),
                next: result("Marker").filter(|_| truncated).map(str::to_string),
            })
        },
    )
}

/// A write's answer: nothing but success or an error.
pub fn read_empty_answer(role_arn: &str, status: u16, body: &[u8]) -> Result<()> {
    if status == 200 {
        return Ok(());
    }
    let text = String::from_utf8_lossy(body);
    Err(query::read_error_response(
        Hop::Revocation,
        role_arn,
        status,
        &text,
    ))
}

/// A delete's answer: a policy already gone (pruned by another host) is fine.
pub fn read_delete_role_policy(role_arn: &str, status: u16, body: &[u8]) -> Result<()> {
    match read_empty_answer(role_arn, status, body) {
        Err(Error::Aws(e)) if e.code == "NoSuchEntity" => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_role_policy_decodes_the_document_and_treats_no_such_entity_as_none() {
        let body = "<GetRolePolicyResponse><GetRolePolicyResult><PolicyName>P</PolicyName><RoleName>R</RoleName>\
                    <PolicyDocument>%7B%22Version%22%3A%222012-10-17%22%7D</PolicyDocument></GetRolePolicyResult>\
                    </GetRolePolicyResponse>";
        let document = read_get_role_policy("arn", 200, body.as_bytes()).unwrap();
        assert_eq!(document.as_deref(), Some(r#"{"Version":"2012-10-17"}"#));
        let missing = "<ErrorResponse><Error><Code>NoSuchEntity</Code><Message>none</Message></Error></ErrorResponse>";
        assert_eq!(
            read_get_role_policy("arn", 404, missing.as_bytes()).unwrap(),
            None
        );
        let denied = "<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>";
        let Err(Error::Aws(e)) =
            read_get_role_policy("arn:aws:iam::1:role/T", 403, denied.as_bytes())
        else {
            panic!()
        };
        assert_eq!(e.hop, Hop::Revocation);
        assert!(e.hint.contains("iam:PutRolePolicy"));
    }

    #[test]
    fn policy_names_are_listed_page_by_page() {
        let page = "<ListRolePoliciesResponse><ListRolePoliciesResult><PolicyNames>\
                    <member>A</member><member>PamAwsRevoke-x</member></PolicyNames>\
                    <IsTruncated>true</IsTruncated><Marker>m2</Marker></ListRolePoliciesResult>\
                    </ListRolePoliciesResponse>";
        let read = read_list_role_policies("arn", 200, page.as_bytes()).unwrap();
        assert_eq!(read.names, ["A", "PamAwsRevoke-x"]);
        assert_eq!(read.next.as_deref(), Some("m2"));
        let last = "<ListRolePoliciesResponse><ListRolePoliciesResult><PolicyNames/>\
                    <IsTruncated>false</IsTruncated></ListRolePoliciesResult></ListRolePoliciesResponse>";
        let read = read_list_role_policies("arn", 200, last.as_bytes()).unwrap();
        assert!(read.names.is_empty() && read.next.is_none());
        let gone = "<ErrorResponse><Error><Code>NoSuchEntity</Code><Message>gone</Message></Error></ErrorResponse>";
        assert!(read_delete_role_policy("arn", 404, gone.as_bytes()).is_ok());
        assert!(read_empty_answer("arn", 404, gone.as_bytes()).is_err());
    }

    #[test]
    fn requests_are_signed_for_iam_in_the_partition_home_region() {
        let creds = Credentials::new("ASIAX", "s", Some("t".into()), None, "test");
        let (url, region) = crate::partition::Partition::AwsCn.iam_endpoint();
        let endpoint = Endpoint {
            url: url.into(),
            region: region.into(),
        };
        let request =
            put_role_policy(&endpoint, &creds, "T", "P", "{}", SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(request.uri(), "https://iam.cn-north-1.amazonaws.com.cn/");
        let auth = request.headers()["authorization"].to_str().unwrap();
        assert!(auth.contains("/cn-north-1/iam/aws4_request"), "{auth}");
        let form: Vec<(String, String)> = form_urlencoded::parse(request.body())
            .into_owned()
            .collect();
        assert!(form.contains(&("PolicyDocument".into(), "{}".into())));
    }
}
