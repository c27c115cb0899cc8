//! `sts:AssumeRole` over the query protocol: a SigV4-signed request and the
//! parsed answer (success or `ErrorResponse`), with a hint per hop and code.

use crate::error::{Result, config, upstream};
use crate::model::{AwsError, Error, Hop};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use std::time::SystemTime;

/// Where STS is reached and which region signs for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub url: String,
    pub region: String,
}

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

/// Builds the signed `POST /` request. Temporary credentials add (and sign)
/// `X-Amz-Security-Token`.
pub fn assume_role_request(
    endpoint: &Endpoint,
    signer: &Credentials,
    call: &AssumeRole,
    now: SystemTime,
) -> Result<http::Request<Vec<u8>>> {
    let duration = call.duration_seconds.to_string();
    let mut params = vec![
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", call.role_arn),
        ("RoleSessionName", call.session_name),
        ("ExternalId", call.external_id),
        ("DurationSeconds", duration.as_str()),
    ];
    if let Some(identity) = call.source_identity {
        params.push(("SourceIdentity", identity));
    }
    let body = query_body(&params).into_bytes();
    let url = format!("{}/", endpoint.url.trim_end_matches('/'));
    let mut request = http::Request::post(&url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body)
        .map_err(|e| config(format!("STS endpoint {url:?} is not a valid URL: {e}")))?;
    sign_request(&mut request, signer, &endpoint.region, "sts", now)?;
    Ok(request)
}

/// Characters the query protocol leaves as they are (RFC 3986 unreserved).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A query-protocol body encoded as botocore encodes it (`%20`, `%2A`), so
/// services that re-encode the form before checking the signature agree.
pub fn query_body(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(key, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(key, QUERY_VALUE),
                utf8_percent_encode(value, QUERY_VALUE)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// SigV4-signs a request in place for `service` in `region`.
pub fn sign_request(
    request: &mut http::Request<Vec<u8>>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<()> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| config(format!("cannot sign for {service} in {region}: {e}")))?
        .into();
    let headers = request.headers().iter().map(|(name, value)| {
        (
            name.as_str(),
            std::str::from_utf8(value.as_bytes()).unwrap_or_default(),
        )
    });
    let url = request.uri().to_string();
    let signable = SignableRequest::new(
        request.method().as_str(),
        &url,
        headers,
        SignableBody::Bytes(request.body()),
    )
    .map_err(|e| config(format!("cannot sign the request to {url}: {e}")))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| config(format!("cannot sign the request to {url}: {e}")))?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResponse {
    assume_role_result: AssumeRoleResult,
    response_metadata: ResponseMetadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResult {
    assumed_role_user: AssumedRoleUser,
    credentials: XmlCredentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumedRoleUser {
    arn: String,
    assumed_role_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResponseMetadata {
    request_id: String,
}

/// AWS answers `<ErrorResponse><Error>…`; some implementations (moto's
/// auth layer) wrap it as `<Errors><Error>…`, which botocore accepts too.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorResponse {
    error: Option<ErrorDetail>,
    errors: Option<WrappedError>,
    request_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WrappedError {
    error: ErrorDetail,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorDetail {
    code: String,
    message: Option<String>,
}

/// Turns STS's answer into the assumed role, or the typed AWS error.
pub fn read_assume_role_response(
    hop: Hop,
    role_arn: &str,
    status: u16,
    body: &[u8],
) -> Result<AssumedRole> {
    let text = std::str::from_utf8(body)
        .map_err(|_| upstream(format!("{hop}: STS answered with a body that is not UTF-8")))?;
    if status != 200 {
        return Err(read_error_response(hop, role_arn, status, text));
    }
    let response: AssumeRoleResponse = quick_xml::de::from_str(text).map_err(|e| {
        upstream(format!(
            "{hop}: STS answered 200 with a malformed AssumeRole response ({e})"
        ))
    })?;
    let result = response.assume_role_result;
    let credentials = Credentials::new(
        result.credentials.access_key_id,
        result.credentials.secret_access_key,
        Some(result.credentials.session_token),
        None,
        "sts-assume-role",
    );
    Ok(AssumedRole {
        credentials,
        arn: result.assumed_role_user.arn,
        assumed_role_id: result.assumed_role_user.assumed_role_id,
        expiration: result.credentials.expiration,
        request_id: response.response_metadata.request_id,
    })
}

/// An AWS query-protocol error document (STS and IAM share it) as a typed error.
pub fn read_error_response(hop: Hop, role_arn: &str, status: u16, text: &str) -> Error {
    let parsed = quick_xml::de::from_str::<ErrorResponse>(text)
        .ok()
        .and_then(|response| {
            Some((
                response.error.or(response.errors.map(|e| e.error))?,
                response.request_id,
            ))
        });
    match parsed {
        Some((error, request_id)) => {
            let code = error.code;
            let message = error.message.unwrap_or_default();
            let hint = diagnose(hop, &code, &message, role_arn);
            Error::Aws(AwsError {
                hop,
                status,
                code,
                message,
                request_id,
                hint,
            })
        }
        None => upstream(format!(
            "{hop}: AWS answered HTTP {status} without an error document"
        )),
    }
}

/// What to check, per hop and AWS error code.
pub fn diagnose(hop: Hop, code: &str, message: &str, role_arn: &str) -> String {
    match (hop, code) {
        (Hop::ResourceRole, "AccessDenied") => format!(
            "Check that the trust policy of {role_arn} names the base credentials' principal and requires \
             sts:ExternalId equal to the resource's external id, and that the base principal may sts:AssumeRole on it"
        ),
        (Hop::TargetRole, "AccessDenied") => format!(
            "Check that the Resource Role's permission policy allows sts:AssumeRole on {role_arn}, and that the \
             trust policy of {role_arn} trusts the Resource Role with the resource's external id"
        ),
        (_, "ValidationError") if message.contains("DurationSeconds") => {
            "Role chaining caps sessions at 1 hour: lower the account's duration, or raise the Target Role's \
             maximum session duration"
                .to_string()
        }
        (_, "ExpiredToken" | "ExpiredTokenException") => {
            "The base credentials have expired: refresh them (aws sso login, a new session token)".to_string()
        }
        (_, "InvalidClientTokenId") => {
            "The base access key id is not known in this partition: check the configured credentials".to_string()
        }
        (_, "SignatureDoesNotMatch") => {
            "The secret access key does not match the key id, or this host's clock is skewed".to_string()
        }
        (Hop::Revocation, "AccessDenied") => format!(
            "Check that the Resource Role's permission policy allows iam:ListRolePolicies, \
             iam:GetRolePolicy, iam:PutRolePolicy and iam:DeleteRolePolicy on {role_arn}"
        ),
        (Hop::Revocation, "LimitExceeded") => format!(
            "The inline policies of {role_arn} are at IAM's limit of 10240 characters: revocations \
             expire an hour after they are made; to cut every session of the role now, use the IAM \
             console's \"Revoke active sessions\""
        ),
        (_, "RegionDisabledException") => {
            "Activate STS in the signing region (IAM > Account settings > Security Token Service) or use another sts-region"
                .to_string()
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bodies_are_encoded_like_botocore() {
        let body = query_body(&[("PolicyDocument", r#"{"Action": "*", "x": "a+b/c~"}"#)]);
        assert_eq!(
            body,
            "PolicyDocument=%7B%22Action%22%3A%20%22%2A%22%2C%20%22x%22%3A%20%22a%2Bb%2Fc~%22%7D"
        );
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
            let when = time::OffsetDateTime::parse(
                &text("time"),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap();
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
            let request = assume_role_request(&endpoint, &creds, &call, when.into()).unwrap();
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
        let request =
            assume_role_request(&endpoint, &creds, &call, SystemTime::UNIX_EPOCH).unwrap();
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
