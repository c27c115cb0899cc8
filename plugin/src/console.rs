//! The web console: one HTML page and its script and style, embedded in the
//! component and served from the same origin as the REST API it calls.
//! The page carries the caller's identity (as the REST API resolved it) in
//! `data-` attributes, so it needs no inline script and no extra route.

use crate::identity::Identity;
use http::HeaderMap;
use std::borrow::Cow;

const PAGE: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");

/// Same origin only, no inline script or style, no framing; `data:` images
/// are not needed either.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

/// One thing the console serves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Asset {
    Page,
    Script,
    Style,
}

/// A console body and how it is sent.
#[derive(Debug, PartialEq)]
pub struct Content {
    pub content_type: &'static str,
    /// The script and style as embedded; the page made for its caller.
    pub bytes: Cow<'static, [u8]>,
}

impl Asset {
    /// What `path` asks for: every path outside `/v1/`, `/healthz` and
    /// `/assets/` is the page (the page routes by its `#fragment`).
    pub fn for_path(path: &str) -> Option<Asset> {
        if path == "/healthz" || path == "/v1" || path.starts_with("/v1/") {
            return None;
        }
        match path {
            "/assets/console.js" => Some(Asset::Script),
            "/assets/console.css" => Some(Asset::Style),
            // The browser asks for it on its own; the page has no icon.
            "/favicon.ico" => None,
            _ if path.starts_with("/assets/") => None,
            _ if path.starts_with('/') => Some(Asset::Page),
            _ => None,
        }
    }

    /// The page names its caller, so no cache may keep it; the script and
    /// style are the same for everyone and may be kept briefly.
    pub fn cache_control(self) -> &'static str {
        match self {
            Asset::Page => "no-store",
            Asset::Script | Asset::Style => "private, max-age=300",
        }
    }

    pub fn content(self, caller: &Identity) -> Content {
        let (content_type, bytes) = match self {
            Asset::Page => (
                "text/html; charset=utf-8",
                Cow::Owned(page(caller).into_bytes()),
            ),
            Asset::Script => (
                "text/javascript; charset=utf-8",
                Cow::Borrowed(SCRIPT.as_bytes()),
            ),
            Asset::Style => ("text/css; charset=utf-8", Cow::Borrowed(STYLE.as_bytes())),
        };
        Content {
            content_type,
            bytes,
        }
    }
}

fn page(caller: &Identity) -> String {
    PAGE.replace("{{user}}", &escape_html(&caller.email))
        .replace("{{admin}}", if caller.admin { "true" } else { "false" })
}

/// The page shown instead of the console when the caller could not be
/// identified (`401`) or the identity settings are unusable.
pub fn refusal(status: u16, why: &str) -> Content {
    let title = if status == 401 {
        "Not signed in"
    } else {
        "The console is unavailable"
    };
    let text = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>pam-aws-console</title>\
         <link rel=\"stylesheet\" href=\"/assets/console.css\"></head><body><main><h1>{title}</h1>\
         <p>{}</p><p>The console is reached through the gateway that signs you in.</p></main></body></html>",
        escape_html(why)
    );
    Content {
        content_type: "text/html; charset=utf-8",
        bytes: Cow::Owned(text.into_bytes()),
    }
}

/// Text as HTML text or a quoted attribute value.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Why a state-changing request is refused as coming from another site, if
/// it is. Browsers say where a request comes from (`Sec-Fetch-Site`, else
/// `Origin`); a request with neither (curl, SDKs, other services) did not
/// come from a page and passes.
pub fn cross_site(headers: &HeaderMap) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return match site {
            "same-origin" | "none" => None,
            other => Some(format!("Sec-Fetch-Site is {other}")),
        };
    }
    let origin = text("origin")?;
    let host = text("host").unwrap_or_default();
    let authority = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .filter(|authority| !authority.is_empty() && !authority.contains('/'));
    match authority {
        Some(authority) if authority.eq_ignore_ascii_case(host) => None,
        _ => Some(format!("Origin {origin} is not this server ({host})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn every_path_outside_the_api_is_the_page_or_an_asset() {
        assert_eq!(Asset::for_path("/"), Some(Asset::Page));
        assert_eq!(Asset::for_path("/sessions"), Some(Asset::Page));
        assert_eq!(Asset::for_path("/assets/console.js"), Some(Asset::Script));
        assert_eq!(Asset::for_path("/assets/console.css"), Some(Asset::Style));
        for not_ours in [
            "/v1/resources",
            "/v1",
            "/healthz",
            "/assets/other.js",
            "/favicon.ico",
            "",
        ] {
            assert_eq!(Asset::for_path(not_ours), None, "{not_ours}");
        }
    }

    #[test]
    fn the_page_names_its_caller_as_text() {
        let caller = Identity {
            email: "a\"><script>x</script>@example.com".into(),
            groups: vec![],
            admin: true,
        };
        let html = String::from_utf8(Asset::Page.content(&caller).bytes.into_owned()).unwrap();
        assert!(
            html.contains("data-user=\"a&quot;&gt;&lt;script&gt;x&lt;/script&gt;@example.com\"")
        );
        assert!(html.contains("data-admin=\"true\""));
        assert!(!html.contains("<script>x"));
        // No inline script: the strict CSP would block it anyway.
        assert!(html.contains("<script src=\"/assets/console.js\""));
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn requests_from_other_sites_are_told_apart_from_ours_and_from_non_browsers() {
        let ours = headers(&[
            ("host", "pam.example.com"),
            ("origin", "https://pam.example.com"),
        ]);
        assert_eq!(cross_site(&ours), None);
        assert_eq!(
            cross_site(&headers(&[("sec-fetch-site", "same-origin")])),
            None
        );
        assert_eq!(cross_site(&headers(&[("sec-fetch-site", "none")])), None);
        assert_eq!(cross_site(&headers(&[("host", "pam.example.com")])), None);
        for theirs in [
            headers(&[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://pam.example.com"),
            ]),
            headers(&[("sec-fetch-site", "same-site")]),
            headers(&[
                ("host", "pam.example.com"),
                ("origin", "https://evil.example"),
            ]),
            headers(&[("host", "pam.example.com"), ("origin", "null")]),
            headers(&[("origin", "https://pam.example.com")]),
        ] {
            assert!(cross_site(&theirs).is_some(), "{theirs:?} passed");
        }
    }
}
