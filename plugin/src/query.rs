//! The AWS query protocol that STS and IAM share: a form-encoded `POST /`
//! with `Action` and `Version`, SigV4-signed for the service, answered with
//! an XML result document or an `ErrorResponse`.

use crate::error::{Result, config, upstream};
use crate::model::{AwsError, Error, Hop};
use crate::xml::Document;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::time::SystemTime;

/// Where STS is reached and which region signs for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub url: String,
    pub region: String,
}

/// A query-protocol service: its signing name and API version.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    pub name: &'static str,
    pub version: &'static str,
}

pub const STS: Service = Service {
    name: "sts",
    version: "2011-06-15",
};

pub const IAM: Service = Service {
    name: "iam",
    version: "2010-05-08",
};

/// The signed `POST /` for `action` with `params`. Temporary credentials
/// add (and sign) `X-Amz-Security-Token`.
pub fn request(
    service: Service,
    endpoint: &Endpoint,
    signer: &Credentials,
    action: &str,
    params: &[(&str, &str)],
    now: SystemTime,
) -> Result<http::Request<Vec<u8>>> {
    let mut all = vec![("Action", action), ("Version", service.version)];
    all.extend_from_slice(params);
    let url = format!("{}/", endpoint.url.trim_end_matches('/'));
    let mut request = http::Request::post(&url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(query_body(&all).into_bytes())
        .map_err(|e| {
            config(format!(
                "{} endpoint {url:?} is not a valid URL: {e}",
                service.name.to_ascii_uppercase()
            ))
        })?;
    sign_request(&mut request, signer, &endpoint.region, service.name, now)?;
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
    // Not `credentials.clone().into()`: that conversion also copies account-id
    // and feature-tracking properties we never set (~7 KB of component code).
    let identity = Identity::new(credentials.clone(), credentials.expiry());
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

/// A `200` answer's document, anything else as the typed AWS error
/// (`role_arn` goes into its hint). `action` names the call in the message
/// about a malformed body; `read` takes the fields the call needs.
pub fn read_answer<T>(
    hop: Hop,
    action: &str,
    role_arn: &str,
    status: u16,
    body: &[u8],
    read: impl FnOnce(&Document) -> std::result::Result<T, String>,
) -> Result<T> {
    let text = std::str::from_utf8(body)
        .map_err(|_| upstream(format!("{hop}: AWS answered with a body that is not UTF-8")))?;
    if status != 200 {
        return Err(read_error_response(hop, role_arn, status, text));
    }
    Document::parse(text)
        .and_then(|doc| read(&doc))
        .map_err(|e| {
            upstream(format!(
                "{hop}: AWS answered 200 with a malformed {action} response ({e})"
            ))
        })
}

/// An AWS query-protocol error document (STS and IAM share it) as a typed
/// error. AWS answers `<ErrorResponse><Error>…`; some implementations
/// (moto's auth layer) wrap it as `<Errors><Error>…`, which botocore accepts too.
pub fn read_error_response(hop: Hop, role_arn: &str, status: u16, text: &str) -> Error {
    let doc = Document::parse(text).ok();
    // The `Error` element's path, whichever of the two forms it came in.
    let error = doc.as_ref().and_then(|doc| {
        ["Error", "Errors/Error"]
            .into_iter()
            .find(|at| doc.get(&format!("{at}/Code")).is_some())
            .map(|at| (doc, at))
    });
    match error {
        Some((doc, at)) => {
            let field = |name: &str| doc.get(&format!("{at}/{name}")).unwrap_or_default();
            let code = field("Code").to_string();
            let message = field("Message").to_string();
            let hint = diagnose(hop, &code, &message, role_arn);
            Error::Aws(AwsError {
                hop,
                status,
                code,
                message,
                request_id: doc.get("RequestId").map(str::to_string),
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

    #[test]
    fn bodies_are_encoded_like_botocore() {
        let body = query_body(&[("PolicyDocument", r#"{"Action": "*", "x": "a+b/c~"}"#)]);
        assert_eq!(
            body,
            "PolicyDocument=%7B%22Action%22%3A%20%22%2A%22%2C%20%22x%22%3A%20%22a%2Bb%2Fc~%22%7D"
        );
    }
}
