//! Outgoing HTTP for the component: only to allowed hosts, with the host's
//! timeouts as a ceiling on whatever the component asks for.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// Hosts the component may reach, as `host:port` (`*.suffix` matches subdomains).
#[derive(Debug, Clone)]
pub struct Egress {
    allow: Arc<Vec<String>>,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
}

impl Egress {
    pub fn new(
        allow: Vec<String>,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Egress {
        let allow = allow
            .into_iter()
            .map(|entry| with_port(&entry.to_ascii_lowercase(), 443))
            .collect();
        Egress {
            allow: Arc::new(allow),
            connect_timeout,
            response_timeout,
        }
    }

    /// Whether `authority` (with the URL's scheme for its default port) may be reached.
    pub fn permits(&self, authority: &str, default_port: u16) -> bool {
        let target = with_port(&authority.to_ascii_lowercase(), default_port);
        let Some((host, port)) = target.rsplit_once(':') else {
            return false;
        };
        self.allow.iter().any(|entry| {
            let Some((allowed_host, allowed_port)) = entry.rsplit_once(':') else {
                return false;
            };
            let host_ok = match allowed_host.strip_prefix("*.") {
                Some(suffix) => host.ends_with(&format!(".{suffix}")),
                None => allowed_host == host,
            };
            host_ok && allowed_port == port
        })
    }

    fn clamp(&self, options: Option<RequestOptions>) -> RequestOptions {
        let cap =
            |asked: Option<Duration>, limit: Duration| Some(asked.map_or(limit, |a| a.min(limit)));
        let options = options.unwrap_or_default();
        RequestOptions {
            connect_timeout: cap(options.connect_timeout, self.connect_timeout),
            first_byte_timeout: cap(options.first_byte_timeout, self.response_timeout),
            between_bytes_timeout: cap(options.between_bytes_timeout, self.response_timeout),
        }
    }
}

fn with_port(authority: &str, default_port: u16) -> String {
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let default_port = if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        };
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        if !self.permits(&authority, default_port) {
            // Only the authority is logged: query strings may hold credentials.
            tracing::warn!(%authority, "egress denied: not in the allow-list");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let options = self.clamp(options);
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress(allow: &[&str]) -> Egress {
        Egress::new(
            allow.iter().map(|s| s.to_string()).collect(),
            Duration::from_secs(1),
            Duration::from_secs(2),
        )
    }

    #[test]
    fn only_listed_hosts_and_ports_pass() {
        let e = egress(&[
            "sts.us-east-1.amazonaws.com",
            "127.0.0.1:5000",
            "*.amazonaws.com.cn",
        ]);
        assert!(e.permits("sts.us-east-1.amazonaws.com", 443));
        assert!(e.permits("STS.us-east-1.amazonaws.com:443", 443));
        assert!(!e.permits("sts.us-east-1.amazonaws.com:8443", 443));
        assert!(e.permits("127.0.0.1:5000", 80));
        assert!(!e.permits("127.0.0.1:5001", 80));
        assert!(!e.permits("127.0.0.1", 80));
        assert!(e.permits("sts.cn-north-1.amazonaws.com.cn", 443));
        assert!(!e.permits("amazonaws.com.cn.evil.example", 443));
        assert!(!e.permits("evil.example", 443));
    }

    #[test]
    fn the_component_cannot_raise_the_host_timeouts() {
        let e = egress(&[]);
        let asked = RequestOptions {
            connect_timeout: Some(Duration::from_secs(60)),
            first_byte_timeout: Some(Duration::from_millis(500)),
            between_bytes_timeout: None,
        };
        let got = e.clamp(Some(asked));
        assert_eq!(got.connect_timeout, Some(Duration::from_secs(1)));
        assert_eq!(got.first_byte_timeout, Some(Duration::from_millis(500)));
        assert_eq!(got.between_bytes_timeout, Some(Duration::from_secs(2)));
    }
}
