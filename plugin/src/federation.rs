//! Console federation: `getSigninToken` for hop 2's credentials, then the
//! login URL. `SessionDuration` is never sent: AWS rejects it for
//! role-chained credentials; the console follows the credentials' lifetime.

use crate::error::{Result, config, upstream};
use crate::model::{AwsError, Error, Hop};
use aws_credential_types::Credentials;

/// `endpoint` with `pairs` form-encoded onto its query. The endpoint is
/// read with `http`'s URI parser (already there for signing): the `url`
/// crate's parser and its IDNA tables cost the component ~45 KB.
fn with_query(endpoint: &str, pairs: &[(&str, &str)]) -> Result<String> {
    let not_a_url = |why: String| {
        config(format!(
            "federation endpoint {endpoint:?} is not an http(s) URL: {why}"
        ))
    };
    let uri: http::Uri = endpoint.parse().map_err(|e| not_a_url(format!("{e}")))?;
    let (Some(scheme @ ("https" | "http")), Some(authority)) = (uri.scheme_str(), uri.authority())
    else {
        return Err(not_a_url("it needs https:// and a host".to_string()));
    };
    let mut query = form_urlencoded::Serializer::new(uri.query().unwrap_or_default().to_string());
    query.extend_pairs(pairs);
    Ok(format!(
        "{scheme}://{authority}{}?{}",
        uri.path(),
        query.finish()
    ))
}

/// The `getSigninToken` URL. It holds the credentials: never log it.
pub fn signin_token_url(endpoint: &str, credentials: &Credentials) -> Result<String> {
    let session = serde_json::json!({
        "sessionId": credentials.access_key_id(),
        "sessionKey": credentials.secret_access_key(),
        "sessionToken": credentials.session_token().unwrap_or_default(),
    });
    with_query(
        endpoint,
        &[
            ("Action", "getSigninToken"),
            ("Session", &session.to_string()),
        ],
    )
}

/// The token from a `getSigninToken` answer: HTTP 200 with `{"SigninToken": …}`.
pub fn read_signin_token(status: u16, body: &[u8]) -> Result<String> {
    if status != 200 {
        let message = String::from_utf8_lossy(body.get(..200).unwrap_or(body))
            .trim()
            .to_string();
        return Err(Error::Aws(AwsError {
            hop: Hop::SigninToken,
            status,
            code: format!("HTTP{status}"),
            message,
            request_id: None,
            hint: "The federation endpoint refused hop 2's credentials; check the Target Role's session and the \
                   federation endpoint for this partition"
                .to_string(),
        }));
    }
    let answer: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
        upstream(format!(
            "{}: the federation endpoint answered 200 with a body that is not JSON",
            Hop::SigninToken
        ))
    })?;
    match answer.get("SigninToken").and_then(|token| token.as_str()) {
        Some(token) if !token.is_empty() => Ok(token.to_string()),
        _ => Err(upstream(format!(
            "{}: the federation endpoint's answer has no SigninToken",
            Hop::SigninToken
        ))),
    }
}

/// The console login link: valid for 15 minutes, opens `destination`.
pub fn login_url(endpoint: &str, issuer: &str, destination: &str, token: &str) -> Result<String> {
    with_query(
        endpoint,
        &[
            ("Action", "login"),
            ("Issuer", issuer),
            ("Destination", destination),
            ("SigninToken", token),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn query(url: &str) -> HashMap<String, String> {
        let (_, query) = url.split_once('?').unwrap();
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn the_endpoint_must_be_an_http_url_and_keeps_its_own_query() {
        let creds = Credentials::new("ASIAKEY", "secret", None, None, "test");
        for bad in [
            "signin.aws.amazon.com/federation",
            "ftp://signin/federation",
            "https://",
            "not a url",
        ] {
            let Err(Error::Config(why)) = signin_token_url(bad, &creds) else {
                panic!("{bad} was accepted")
            };
            assert!(
                why.contains("federation endpoint") && !why.contains("secret"),
                "{why}"
            );
        }
        let url = login_url("http://127.0.0.1:9/federation?tenant=a", "i", "d", "t").unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:9/federation?tenant=a&Action=login&"),
            "{url}"
        );
        let bare = login_url("https://signin.test", "i", "d", "t").unwrap();
        assert!(
            bare.starts_with("https://signin.test/?Action=login&"),
            "{bare}"
        );
    }

    #[test]
    fn the_token_request_carries_the_session_and_no_duration() {
        let creds = Credentials::new(
            "ASIAKEY",
            "s3cr3t/+=",
            Some("tok+en/=".into()),
            None,
            "test",
        );
        let url = signin_token_url("https://signin.aws.amazon.com/federation", &creds).unwrap();
        assert!(url.starts_with(
            "https://signin.aws.amazon.com/federation?Action=getSigninToken&Session="
        ));
        let params = query(&url);
        assert!(!params.contains_key("SessionDuration"));
        let session: serde_json::Value = serde_json::from_str(&params["Session"]).unwrap();
        assert_eq!(session["sessionId"], "ASIAKEY");
        assert_eq!(session["sessionKey"], "s3cr3t/+=");
        assert_eq!(session["sessionToken"], "tok+en/=");
    }

    #[test]
    fn the_login_url_encodes_every_value() {
        let url = login_url(
            "https://signin.aws.amazon.com/federation",
            "https://pam.example.com/",
            "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1",
            "tok&en=1",
        )
        .unwrap();
        let params = query(&url);
        assert_eq!(params["Action"], "login");
        assert_eq!(params["Issuer"], "https://pam.example.com/");
        assert_eq!(
            params["Destination"],
            "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1"
        );
        assert_eq!(params["SigninToken"], "tok&en=1");
        assert!(
            !url.contains("region=eu-west-1&"),
            "the destination's query must be encoded: {url}"
        );
    }

    #[test]
    fn token_answers_other_than_200_with_a_token_are_errors() {
        assert_eq!(
            read_signin_token(200, br#"{"SigninToken":"abc"}"#).unwrap(),
            "abc"
        );
        let Err(Error::Aws(e)) = read_signin_token(400, b"Invalid Credentials Parameter") else {
            panic!()
        };
        assert_eq!((e.hop, e.status), (Hop::SigninToken, 400));
        assert!(e.message.contains("Invalid Credentials"));
        assert!(matches!(
            read_signin_token(200, b"<html/>"),
            Err(Error::Upstream(_))
        ));
        assert!(matches!(
            read_signin_token(200, b"{}"),
            Err(Error::Upstream(_))
        ));
        assert!(matches!(
            read_signin_token(200, br#"{"SigninToken":""}"#),
            Err(Error::Upstream(_))
        ));
    }
}
