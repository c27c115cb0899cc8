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
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderValue;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
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

/// The credentials a request is signed with, by where they came from.
#[derive(Clone, Copy)]
pub enum Signer<'a> {
    /// The base credentials the host hands the component. They sign hop 1
    /// of every grant with one signing key all day, so an instance keeps
    /// that key ([`signing_mac`]).
    Base(&'a Credentials),
    /// Credentials an AssumeRole returned: new on every grant, their keys
    /// derived each time and never kept.
    Assumed(&'a Credentials),
}

impl Signer<'_> {
    fn credentials(&self) -> &Credentials {
        match self {
            Signer::Base(credentials) | Signer::Assumed(credentials) => credentials,
        }
    }
}

/// The signed `POST /` for `action` with `params`. Temporary credentials
/// add (and sign) `X-Amz-Security-Token`.
pub fn request(
    service: Service,
    endpoint: &Endpoint,
    signer: Signer,
    action: &str,
    params: &[(&str, &str)],
    now: SystemTime,
) -> Result<http::Request<Vec<u8>>> {
    let mut all = vec![("Action", action), ("Version", service.version)];
    all.extend_from_slice(params);
    let url = format!("{}/", endpoint.url.trim_end_matches('/'));
    let mut request = http::Request::post(&url)
        .header(http::header::CONTENT_TYPE, FORM)
        .body(query_body(&all).into_bytes())
        .map_err(|e| {
            config(format!(
                "{} endpoint {url:?} is not a valid URL: {e}",
                service.name.to_ascii_uppercase()
            ))
        })?;
    if !sign_form_post(&mut request, signer, &endpoint.region, service.name, now) {
        let (region, credentials) = (&endpoint.region, signer.credentials());
        sign_request(&mut request, credentials, region, service.name, now)?;
    }
    Ok(request)
}

/// The content type of every query-protocol request.
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// SigV4 for the requests [`request`] builds, written as aws-sigv4's
/// general signer writes it: a `POST` whose one header is the form's
/// content type, with no query string, to a path that needs no normalising
/// or escaping. The signing key is aws-sigv4's; the canonical request is
/// built here because the general signer parses the URL and headers back
/// into maps and formats through `time` and `core::fmt` on every call,
/// which was about a fifth of the server's CPU per grant (README,
/// Performance). The tests hold every header to what the general signer
/// writes. Any other request is left unsigned (false) for [`sign_request`].
fn sign_form_post(
    request: &mut http::Request<Vec<u8>>,
    signer: Signer,
    region: &str,
    service: &str,
    now: SystemTime,
) -> bool {
    let credentials = signer.credentials();
    let uri = request.uri();
    let only_form_header = request.headers().len() == 1
        && request.headers().get(http::header::CONTENT_TYPE)
            == Some(&HeaderValue::from_static(FORM));
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return false;
    };
    let path = uri.path();
    if request.method() != http::Method::POST
        || !only_form_header
        || uri.query().is_some()
        || authority.as_str().contains('@')
        || !is_plain_path(path)
    {
        return false;
    }
    // The host as the general signer signs it: without the scheme's default port.
    let host = match (scheme, authority.port_u16()) {
        ("http", Some(80)) | ("https", Some(443)) => authority.host(),
        _ => authority.as_str(),
    };
    let Some(amz_date) = amz_date(now) else {
        return false;
    };
    let token = credentials.session_token();
    let token_header = match token.map(HeaderValue::from_str) {
        None => None,
        Some(Ok(mut value)) => {
            value.set_sensitive(true);
            Some(value)
        }
        Some(Err(_)) => return false,
    };
    let (token_line, signed_headers) = match token {
        Some(_) => (
            "\nx-amz-security-token:",
            "content-type;host;x-amz-date;x-amz-security-token",
        ),
        None => ("", "content-type;host;x-amz-date"),
    };

    // `concat`, not `format!`: one allocation each, no formatting machinery.
    let body_hash = lower_hex(&Sha256::digest(request.body()));
    let canonical = [
        "POST\n",
        path,
        "\n\ncontent-type:",
        FORM,
        "\nhost:",
        host,
        "\nx-amz-date:",
        &amz_date,
        token_line,
        token.unwrap_or_default(),
        "\n\n",
        signed_headers,
        "\n",
        &body_hash,
    ]
    .concat();
    let date = amz_date.get(..8).unwrap_or_default();
    let scope = [date, "/", region, "/", service, "/aws4_request"].concat();
    let canonical_hash = lower_hex(&Sha256::digest(&canonical));
    let string_to_sign = [
        "AWS4-HMAC-SHA256\n",
        &amz_date,
        "\n",
        &scope,
        "\n",
        &canonical_hash,
    ]
    .concat();
    // `v4::calculate_signature`, whose hex encoding goes a char at a time.
    let Some(mut mac) = signing_mac(signer, now, date, region, service) else {
        return false;
    };
    mac.update(string_to_sign.as_bytes());
    let signature = lower_hex(&mac.finalize().into_bytes());
    let authorization = [
        "AWS4-HMAC-SHA256 Credential=",
        credentials.access_key_id(),
        "/",
        &scope,
        ", SignedHeaders=",
        signed_headers,
        ", Signature=",
        &signature,
    ]
    .concat();
    let (Ok(authorization), Ok(amz_date)) = (
        HeaderValue::from_str(&authorization),
        HeaderValue::from_str(&amz_date),
    ) else {
        return false;
    };
    let headers = request.headers_mut();
    headers.insert("x-amz-date", amz_date);
    headers.insert(http::header::AUTHORIZATION, authorization);
    if let Some(token) = token_header {
        headers.insert("x-amz-security-token", token);
    }
    true
}

/// The base credentials' signing key, ready as an HMAC (its pads hashed),
/// with the credentials and scope it was derived for: deriving it (four
/// HMACs) was a tenth of the component's instructions per grant.
struct BaseKey {
    credentials: Credentials,
    date: String,
    region: String,
    service: String,
    mac: Hmac<Sha256>,
}

thread_local! {
    static BASE_KEY: RefCell<Option<BaseKey>> = const { RefCell::new(None) };
}

/// An HMAC keyed with `signer`'s SigV4 signing key for `date`
/// (`YYYYMMDD`), `region` and `service`: for the base credentials, the one
/// this instance kept while all of these stay the same.
fn signing_mac(
    signer: Signer,
    now: SystemTime,
    date: &str,
    region: &str,
    service: &str,
) -> Option<Hmac<Sha256>> {
    let derive = |credentials: &Credentials| {
        let key = v4::generate_signing_key(credentials.secret_access_key(), now, region, service);
        Hmac::<Sha256>::new_from_slice(key.as_ref()).ok()
    };
    let credentials = match signer {
        Signer::Assumed(credentials) => return derive(credentials),
        Signer::Base(credentials) => credentials,
    };
    BASE_KEY.with(|kept| {
        let mut kept = kept.borrow_mut();
        let same = |key: &&BaseKey| {
            key.credentials == *credentials
                && key.date == date
                && key.region == region
                && key.service == service
        };
        if let Some(key) = kept.as_ref().filter(same) {
            return Some(key.mac.clone());
        }
        let mac = derive(credentials)?;
        *kept = Some(BaseKey {
            credentials: credentials.clone(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            mac: mac.clone(),
        });
        Some(mac)
    })
}

/// Lowercase hex, written a byte pair at a time.
pub fn lower_hex(bytes: &[u8]) -> String {
    let mut text = vec![0; bytes.len() * 2];
    // The buffer is exactly twice the input, and hex is ASCII: neither fails.
    let _ = hex::encode_to_slice(bytes, &mut text);
    String::from_utf8(text).unwrap_or_default()
}

/// A path the general signer leaves as it is: no dot segments or empty
/// segments to normalise, nothing to percent-encode.
fn is_plain_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'~'))
}

/// `20261206T224100Z`, for the years `clock` formats (others: none).
fn amz_date(now: SystemTime) -> Option<String> {
    let seconds = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    (seconds <= crate::clock::LAST_SECOND.unsigned_abs())
        .then(|| crate::clock::compact(time::OffsetDateTime::from(now)))
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
    let mut body = String::with_capacity(256);
    for (key, value) in params {
        if !body.is_empty() {
            body.push('&');
        }
        body.extend(utf8_percent_encode(key, QUERY_VALUE));
        body.push('=');
        body.extend(utf8_percent_encode(value, QUERY_VALUE));
    }
    body
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
    use std::time::Duration;

    /// Every header of `request` as (name, value, sensitive), sorted.
    fn headers(request: &http::Request<Vec<u8>>) -> Vec<(String, Vec<u8>, bool)> {
        let mut all: Vec<_> = request
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    value.as_bytes().to_vec(),
                    value.is_sensitive(),
                )
            })
            .collect();
        all.sort();
        all
    }

    fn creds(key: &str, secret: &str, token: Option<String>) -> Credentials {
        Credentials::new(key, secret, token, None, "test")
    }

    fn form_post(url: &str, body: &str) -> http::Request<Vec<u8>> {
        http::Request::post(url)
            .header(http::header::CONTENT_TYPE, FORM)
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    #[test]
    fn form_posts_are_signed_exactly_as_aws_sigv4_signs_them() {
        let endpoints = [
            "https://sts.amazonaws.com/",
            "https://sts.us-east-1.amazonaws.com:443/",
            "http://127.0.0.1:5000/",
            "http://localhost:80/",
            "https://localhost:80/",
            "http://Sts.Example.COM:8443/",
            "https://vpce-0a1b2c3d-4e5f.sts.eu-west-1.vpce.amazonaws.com/",
            "https://gateway.example.com/aws/sts-proxy_1~x/",
            "https://[::1]:8443/",
        ];
        let credentials = [
            creds(
                "AKIAIOSFODNN7EXAMPLE",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                None,
            ),
            creds(
                "ASIAQWERTYUIOPASDFGH",
                "secret+with/slashes=and+plus",
                Some("FwoGZXIvYXdzEJr//////////wEaDO+token/with+base64=".to_string()),
            ),
        ];
        let bodies = [
            query_body(&[("Action", "AssumeRole"), ("Version", "2011-06-15")]),
            query_body(&[
                ("Action", "AssumeRole"),
                ("RoleArn", "arn:aws:iam::111122223333:role/PamTarget"),
                ("RoleSessionName", "alice@example.com"),
                ("ExternalId", "ext id ünïcode *~"),
            ]),
            String::new(),
        ];
        let times = [
            SystemTime::UNIX_EPOCH,
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_765_000_000_999),
            SystemTime::UNIX_EPOCH + Duration::from_secs(2_147_483_647),
            SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799),
        ];
        let mut compared = 0;
        for url in endpoints {
            for credentials in &credentials {
                for body in &bodies {
                    for now in times {
                        for (region, service) in [("us-east-1", "sts"), ("cn-north-1", "iam")] {
                            let mut theirs = form_post(url, body);
                            sign_request(&mut theirs, credentials, region, service, now).unwrap();
                            // As credentials an AssumeRole returned; as base
                            // credentials, deriving their key and then with
                            // the key kept (replaced as the loop moves on).
                            let signers = [
                                Signer::Assumed(credentials),
                                Signer::Base(credentials),
                                Signer::Base(credentials),
                            ];
                            for signer in signers {
                                let mut ours = form_post(url, body);
                                assert!(
                                    sign_form_post(&mut ours, signer, region, service, now),
                                    "{url}"
                                );
                                let case = format!("{url} {body:?} {now:?} {region}");
                                assert_eq!(headers(&ours), headers(&theirs), "{case}");
                                compared += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(compared, endpoints.len() * 2 * 3 * 4 * 2 * 3);
    }

    #[test]
    fn requests_outside_the_plain_shape_are_left_to_aws_sigv4() {
        let credentials = creds("AKIDEXAMPLE", "secret", None);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_765_000_000);
        let mut refused = vec![
            form_post("https://sts.amazonaws.com/a/./b/", ""),
            form_post("https://sts.amazonaws.com/a//b/", ""),
            form_post("https://sts.amazonaws.com/a%20b/", ""),
            form_post("https://sts.amazonaws.com/?x=1", ""),
            form_post("https://user@sts.amazonaws.com/", ""),
            http::Request::get("https://sts.amazonaws.com/")
                .body(Vec::new())
                .unwrap(),
        ];
        let mut extra_header = form_post("https://sts.amazonaws.com/", "");
        extra_header
            .headers_mut()
            .insert("x-extra", HeaderValue::from_static("1"));
        refused.push(extra_header);
        for request in &mut refused {
            let before = headers(request);
            assert!(!sign_form_post(
                request,
                Signer::Base(&credentials),
                "us-east-1",
                "sts",
                now
            ));
            assert_eq!(
                headers(request),
                before,
                "a refused request is left as it was"
            );
        }
        let mut too_late = form_post("https://sts.amazonaws.com/", "");
        let year_10000 = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert!(!sign_form_post(
            &mut too_late,
            Signer::Base(&credentials),
            "us-east-1",
            "sts",
            year_10000
        ));
        let mut bad_token = form_post("https://sts.amazonaws.com/", "");
        let newline = creds("AKIDEXAMPLE", "secret", Some("a\nb".to_string()));
        assert!(!sign_form_post(
            &mut bad_token,
            Signer::Base(&newline),
            "us-east-1",
            "sts",
            now
        ));
        assert_eq!(bad_token.headers().len(), 1);
    }

    #[test]
    fn query_requests_take_the_plain_signer_and_match_aws_sigv4() {
        let endpoint = Endpoint {
            url: "http://127.0.0.1:5000".to_string(),
            region: "us-east-1".to_string(),
        };
        let credentials = creds("AKIDEXAMPLE", "secret", Some("token".to_string()));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_765_000_000);
        let params = [("RoleArn", "arn:aws:iam::111122223333:role/R")];
        let signer = Signer::Assumed(&credentials);
        let built = request(STS, &endpoint, signer, "AssumeRole", &params, now).unwrap();
        let mut reference = form_post(
            "http://127.0.0.1:5000/",
            std::str::from_utf8(built.body()).unwrap(),
        );
        sign_request(&mut reference, &credentials, "us-east-1", "sts", now).unwrap();
        assert_eq!(headers(&built), headers(&reference));
        assert!(built.headers().contains_key(http::header::AUTHORIZATION));
    }

    /// The kept key is used only while the credentials, day, region and
    /// service all stay the same: one of them changed at a time, every
    /// signature still matches aws-sigv4's.
    #[test]
    fn the_kept_base_key_follows_each_part_of_its_scope() {
        std::thread::spawn(|| {
            let day = SystemTime::UNIX_EPOCH + Duration::from_secs(1_765_000_000);
            let next_day = day + Duration::from_secs(86_400);
            let base = creds("AKIDEXAMPLE", "secret", None);
            let steps = [
                (base.clone(), day, "us-east-1", "sts"),
                (
                    base.clone(),
                    day + Duration::from_secs(60),
                    "us-east-1",
                    "sts",
                ),
                (base.clone(), next_day, "us-east-1", "sts"),
                (base.clone(), next_day, "eu-west-1", "sts"),
                (base.clone(), next_day, "eu-west-1", "iam"),
                (
                    creds("AKIDEXAMPLE", "rotated", None),
                    next_day,
                    "eu-west-1",
                    "iam",
                ),
                (
                    creds("AKIDOTHER", "rotated", None),
                    next_day,
                    "eu-west-1",
                    "iam",
                ),
                (
                    creds("AKIDOTHER", "rotated", Some("t".into())),
                    next_day,
                    "eu-west-1",
                    "iam",
                ),
            ];
            for (credentials, now, region, service) in steps {
                let mut ours = form_post("https://sts.amazonaws.com/", "Action=AssumeRole");
                let mut theirs = ours.clone();
                let signer = Signer::Base(&credentials);
                assert!(sign_form_post(&mut ours, signer, region, service, now));
                sign_request(&mut theirs, &credentials, region, service, now).unwrap();
                assert_eq!(
                    headers(&ours),
                    headers(&theirs),
                    "{now:?} {region} {service}"
                );
            }
        })
        .join()
        .unwrap();
    }

    /// Only the base credentials' key is kept, and only the last one:
    /// credentials an AssumeRole returned leave nothing behind.
    #[test]
    fn only_the_base_credentials_signing_key_is_kept() {
        std::thread::spawn(|| {
            let kept =
                || BASE_KEY.with(|key| key.borrow().as_ref().map(|key| key.credentials.clone()));
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_765_000_000);
            let sign = |signer| {
                let mut request = form_post("https://sts.amazonaws.com/", "Action=AssumeRole");
                assert!(sign_form_post(
                    &mut request,
                    signer,
                    "us-east-1",
                    "sts",
                    now
                ));
            };
            let hop1 = creds("ASIAHOPONEEXAMPLE", "hop-1 secret", Some("t".to_string()));
            sign(Signer::Assumed(&hop1));
            assert_eq!(kept(), None, "a hop-2 signer is never kept");
            let base = creds("AKIDEXAMPLE", "secret", None);
            sign(Signer::Base(&base));
            assert_eq!(kept(), Some(base.clone()));
            sign(Signer::Assumed(&hop1));
            assert_eq!(
                kept(),
                Some(base.clone()),
                "hop 2 leaves the base key as it was"
            );
            let rotated = creds("AKIDEXAMPLE", "rotated secret", None);
            sign(Signer::Base(&rotated));
            assert_eq!(
                kept(),
                Some(rotated.clone()),
                "a new secret replaces the key"
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn bodies_are_encoded_like_botocore() {
        let body = query_body(&[("PolicyDocument", r#"{"Action": "*", "x": "a+b/c~"}"#)]);
        assert_eq!(
            body,
            "PolicyDocument=%7B%22Action%22%3A%20%22%2A%22%2C%20%22x%22%3A%20%22a%2Bb%2Fc~%22%7D"
        );
    }
}
