//! `sts:AssumeRole` over the query protocol (`query`): the signed request
//! and the parsed answer.

use crate::error::Result;
use crate::model::Hop;
use crate::query::{self, Endpoint, Signer};
use aws_credential_types::Credentials;
use std::time::SystemTime;

/// The parameters of one AssumeRole call.
#[derive(Debug, Clone)]
pub struct AssumeRole<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub external_id: &'a str,
    pub duration_seconds: u32,
    /// Follows the session through role chaining into CloudTrail.
    pub source_identity: Option<&'a str>,
}

/// What AssumeRole returned. `Credentials` redacts its secrets in `Debug`.
#[derive(Debug, Clone)]
pub struct AssumedRole {
    pub credentials: Credentials,
    pub arn: String,
    pub assumed_role_id: String,
    pub expiration: String,
    pub request_id: String,
}

/// The signed AssumeRole request.
pub fn assume_role_request(
    endpoint: &Endpoint,
    signer: Signer,
    call: &AssumeRole,
    now: SystemTime,
) -> Result<http::Request<Vec<u8>>> {
    let duration = call.duration_seconds.to_string();
    let mut params = vec![
        ("RoleArn", call.role_arn),
        ("RoleSessionName", call.session_name),
        ("ExternalId", call.external_id),
        ("DurationSeconds", duration.as_str()),
    ];
    if let Some(identity) = call.source_identity {
        params.push(("SourceIdentity", identity));
    }
    query::request(query::STS, endpoint, signer, "AssumeRole", &params, now)
}

/// Turns STS's answer into the assumed role, or the typed AWS error.
pub fn read_assume_role_response(
    hop: Hop,
    role_arn: &str,
    status: u16,
    body: &[u8],
) -> Result<AssumedRole> {
    query::read_answer(hop, "AssumeRole", role_arn, status, body, |doc| {
        let field = |name: &str| doc.require(&format!("AssumeRoleResult/{name}"));
        let credentials = Credentials::new(
            field("Credentials/AccessKeyId")?,
            field("Credentials/SecretAccessKey")?,
            Some(field("Credentials/SessionToken")?),
            None,
            "sts-assume-role",
        );
        Ok(AssumedRole {
            credentials,
            arn: field("AssumedRoleUser/Arn")?,
            assumed_role_id: field("AssumedRoleUser/AssumedRoleId")?,
            expiration: field("Credentials/Expiration")?,
            request_id: doc.require("ResponseMetadata/RequestId")?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Error;

    const SUCCESS: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>alice@example.com</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/PamTarget/alice@example.com</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:alice@example.com</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAJEXAMPLEXEG2JICEA</AccessKeyId>
      <SecretAccessKey>9drTJvcXLB89EXAMPLELB8923FB892xMFI</SecretAccessKey>
      <SessionToken>AQoXdzELDDY//////////wEaoAK1wvxJY12r2IrDFT2IvAzTCn3zHoZ7YNtpiQLF0MqZye/qwjzP2iEXAMPLEbw=</SessionToken>
      <Expiration>2026-11-29T06:13:53Z</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>"#;

    const DENIED: &str = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>AccessDenied</Code>
    <Message>User: arn:aws:iam::123456789012:user/pam is not authorized to perform: sts:AssumeRole</Message>
  </Error>
  <RequestId>7d3b3e45-0000-4000-8000-000000000001</RequestId>
</ErrorResponse>"#;

    #[test]
    fn parses_a_successful_assume_role() {
        let role =
            read_assume_role_response(Hop::TargetRole, "arn", 200, SUCCESS.as_bytes()).unwrap();
        assert_eq!(
            role.arn,
            "arn:aws:sts::123456789012:assumed-role/PamTarget/alice@example.com"
        );
        assert_eq!(
            role.assumed_role_id,
            "AROA3XFRBF535PLBIFPI4:alice@example.com"
        );
        assert_eq!(role.expiration, "2026-11-29T06:13:53Z");
        assert_eq!(role.request_id, "c6104cbe-af31-11e0-8154-cbc7ccf896c7");
        assert_eq!(role.credentials.access_key_id(), "ASIAJEXAMPLEXEG2JICEA");
        assert!(
            role.credentials
                .session_token()
                .unwrap()
                .starts_with("AQoXdzELDDY")
        );
        assert!(
            !format!("{role:?}").contains("9drTJvcXLB89EXAMPLE"),
            "Debug must not show the secret"
        );
    }

    #[test]
    fn error_responses_keep_hop_code_message_and_request_id() {
        let arn = "arn:aws:iam::123456789012:role/PamResource";
        let Err(Error::Aws(e)) =
            read_assume_role_response(Hop::ResourceRole, arn, 403, DENIED.as_bytes())
        else {
            panic!("expected an AWS error");
        };
        assert_eq!(e.hop, Hop::ResourceRole);
        assert_eq!(e.status, 403);
        assert_eq!(e.code, "AccessDenied");
        assert!(
            e.message
                .contains("not authorized to perform: sts:AssumeRole")
        );
        assert_eq!(
            e.request_id.as_deref(),
            Some("7d3b3e45-0000-4000-8000-000000000001")
        );
        assert!(
            e.hint
                .contains("trust policy of arn:aws:iam::123456789012:role/PamResource")
        );
        assert!(e.hint.contains("ExternalId"));
    }

    #[test]
    fn wrapped_error_documents_are_understood() {
        let body = r#"<?xml version="1.0" encoding="utf-8"?>
<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message><Type>Sender</Type></Error></Errors></ErrorResponse>"#;
        let Err(Error::Aws(e)) =
            read_assume_role_response(Hop::ResourceRole, "arn", 403, body.as_bytes())
        else {
            panic!("expected an AWS error");
        };
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert_eq!(e.request_id, None);
        assert!(e.hint.contains("clock"));
    }

    #[test]
    fn malformed_and_truncated_bodies_are_upstream_errors() {
        let truncated = &SUCCESS[..SUCCESS.len() / 2];
        for body in [truncated, "<html>Service Unavailable</html>", "{}"] {
            let result = read_assume_role_response(Hop::ResourceRole, "arn", 200, body.as_bytes());
            assert!(
                matches!(result, Err(Error::Upstream(_))),
                "{body}: {result:?}"
            );
        }
        let result = read_assume_role_response(Hop::ResourceRole, "arn", 503, b"<html>busy</html>");
        assert!(
            matches!(result, Err(Error::Upstream(ref m)) if m.contains("503")),
            "{result:?}"
        );
    }

    /// Signatures botocore computed for the same requests at fixed times
    /// (`tests/vectors/make_sigv4_vectors.py` wrote them).
    #[test]
    fn signatures_match_botocore_for_every_partition() {
        let vectors: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../../tests/vectors/sigv4_sts.json")).unwrap();
        assert!(vectors.len() >= 4);
        for v in vectors {
            let text = |key: &str| v[key].as_str().unwrap().to_string();
            let token = v["session_token"].as_str().map(str::to_string);
            let creds = Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                token,
                None,
                "test",
            );
            let when = crate::clock::parse(&text("time")).unwrap();
            let endpoint = Endpoint {
                url: text("url"),
                region: text("region"),
            };
            let call = AssumeRole {
                role_arn: "arn:aws:iam::123456789012:role/PamTarget",
                session_name: "alice@example.com",
                external_id: "proj-1",
                duration_seconds: 1800,
                source_identity: None,
            };
            let request =
                assume_role_request(&endpoint, Signer::Base(&creds), &call, when.into()).unwrap();
            let name = text("name");
            assert_eq!(
                String::from_utf8(request.body().clone()).unwrap(),
                text("body"),
                "{name}: body"
            );
            assert_eq!(
                request.headers()["x-amz-date"],
                text("x-amz-date").as_str(),
                "{name}: date"
            );
            assert_eq!(
                request.headers()["authorization"],
                text("authorization").as_str(),
                "{name}: signature"
            );
        }
    }

    #[test]
    fn the_request_carries_every_parameter_and_a_signed_token() {
        let creds = Credentials::new(
            "ASIAEXAMPLE",
            "secret",
            Some("the-token".into()),
            None,
            "test",
        );
        let endpoint = Endpoint {
            url: "https://sts.eu-west-1.amazonaws.com".into(),
            region: "eu-west-1".into(),
        };
        let call = AssumeRole {
            role_arn: "arn:aws:iam::123456789012:role/PamTarget",
            session_name: "alice@example.com",
            external_id: "proj-1",
            duration_seconds: 1800,
            source_identity: Some("alice@example.com"),
        };
        let request = assume_role_request(
            &endpoint,
            Signer::Base(&creds),
            &call,
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let body = String::from_utf8(request.body().clone()).unwrap();
        let pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        for (key, value) in [
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", call.role_arn),
            ("RoleSessionName", "alice@example.com"),
            ("ExternalId", "proj-1"),
            ("DurationSeconds", "1800"),
            ("SourceIdentity", "alice@example.com"),
        ] {
            assert!(
                pairs.contains(&(key.into(), value.into())),
                "{key} missing from {body}"
            );
        }
        assert_eq!(request.headers()["x-amz-security-token"], "the-token");
        let auth = request.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/19700101/eu-west-1/sts/aws4_request"
        ));
        assert!(
            auth.contains("x-amz-security-token"),
            "the token must be signed: {auth}"
        );
    }
}
