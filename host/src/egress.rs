//! Outgoing HTTP for the component: only to allowed hosts, with the host's
//! timeouts as a ceiling on whatever the component asks for, over one pool
//! of keep-alive connections shared by every instance of the process.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// How long an unused pooled connection stays open: below the idle timeouts
/// of AWS's front ends, so we close first and seldom meet a closed socket.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Idle connections kept per authority (one per concurrent grant is plenty).
const POOL_MAX_IDLE_PER_HOST: usize = 64;
/// The component's requests are form posts and GETs: kilobytes, not more.
const MAX_REQUEST_BODY: usize = 1 << 20;

type PlainClient = Client<HttpConnector, Full<Bytes>>;
type TlsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The pools: plain HTTP (local endpoints, tests), and TLS, built on first
/// use, so a call that never speaks TLS never reads the platform's roots.
struct Pools {
    plain: PlainClient,
    tls: OnceLock<TlsClient>,
    connect_timeout: Duration,
}

/// Hosts the component may reach, as `host:port` (`*.suffix` matches
/// subdomains), and the pooled client that reaches them. Clones share both.
#[derive(Clone)]
pub struct Egress {
    allow: Arc<Vec<String>>,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pools: Arc<Pools>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("allow", &self.allow)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
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
            pools: Pools::new(connect_timeout),
        }
    }

    /// The same allow-list and timeouts over pools of its own: each of
    /// `pam-aws serve`'s threads drives its own connections, so no request
    /// waits for another thread to write or read its socket.
    pub fn with_own_pools(&self) -> Egress {
        Egress {
            pools: Pools::new(self.connect_timeout),
            ..self.clone()
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

impl Pools {
    fn new(connect_timeout: Duration) -> Arc<Pools> {
        Arc::new(Pools {
            plain: pooled(tcp_connector(connect_timeout)),
            tls: OnceLock::new(),
            connect_timeout,
        })
    }

    /// rustls on ring with the platform's roots (`SSL_CERT_FILE`,
    /// `SSL_CERT_DIR` honoured) and webpki's, offering HTTP/2 and HTTP/1.1
    /// by ALPN: an endpoint that takes HTTP/2 gets one multiplexed
    /// connection, any other keeps HTTP/1.1.
    fn tls(&self) -> &TlsClient {
        self.tls.get_or_init(|| {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls_config())
                .https_only()
                .enable_all_versions()
                .wrap_connector(tcp_connector(self.connect_timeout));
            pooled(connector)
        })
    }
}

/// TCP with the host's connect timeout bounding every new connection.
fn tcp_connector(connect_timeout: Duration) -> HttpConnector {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(connect_timeout));
    tcp
}

fn pooled<C: Connect + Clone>(connector: C) -> Client<C, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
}

fn tls_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // Unreadable platform certificates leave webpki's roots, which is what
    // wasmtime's own client trusts.
    let platform = rustls_native_certs::load_native_certs();
    let (_added, _ignored) = roots.add_parsable_certificates(platform.certs);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(builder) => builder.with_root_certificates(roots).with_no_client_auth(),
        // ring supports the default versions; this arm is never taken.
        Err(_) => rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    }
}

pub(crate) type SendFuture = Box<
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
    /// No `host` header from wasi-http: the pool's client writes it for
    /// HTTP/1.1 (without a default port, as SigV4 signs it), and HTTP/2
    /// carries the authority as `:authority`, beside which a `host` header
    /// is a duplicate that servers refuse (nginx answers 400).
    fn set_host_header(&mut self) -> bool {
        false
    }

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
        let pools = self.pools.clone();
        let tls = uri.scheme_str() != Some("http");
        Box::new(async move {
            let response = if tls {
                send(pools.tls(), request, options).await?
            } else {
                send(&pools.plain, request, options).await?
            };
            let between_bytes = options
                .between_bytes_timeout
                .unwrap_or(Duration::MAX)
                .max(Duration::from_nanos(1));
            let response = response.map(|incoming| {
                BetweenBytes {
                    incoming,
                    timeout: between_bytes,
                    sleep: Box::pin(tokio::time::sleep(between_bytes)),
                }
                .boxed_unsync()
            });
            // The pool drives the connection itself: nothing for the caller to await.
            let io = async { Ok(()) };
            Ok((response, Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

/// Sends through the pool, within the first-byte timeout. A pooled
/// connection the server closed just as we wrote to it is retried once on
/// the pool's next connection: that is not an AWS failure, so the
/// component's retry budget is not spent on it.
async fn send<C: Connect + Clone + Send + Sync + 'static>(
    client: &Client<C, Full<Bytes>>,
    request: http::Request<WasiBody>,
    options: RequestOptions,
) -> Result<http::Response<hyper::body::Incoming>, HttpError> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_REQUEST_BODY)
        .collect()
        .await
        .map_err(|e| match e.downcast::<HttpError>() {
            Ok(e) => *e,
            Err(_) => HttpError::HttpRequestBodySize(None),
        })?
        .to_bytes();
    // The pool decides per request whether to connect, so the first-byte
    // timeout runs from the send, a new connection's setup included (which
    // the connector bounds by the connect timeout as well).
    let deadline = options.first_byte_timeout.unwrap_or(Duration::MAX);
    let mut retried = false;
    loop {
        let mut attempt = http::Request::new(Full::new(body.clone()));
        *attempt.method_mut() = parts.method.clone();
        *attempt.uri_mut() = parts.uri.clone();
        *attempt.headers_mut() = parts.headers.clone();
        match tokio::time::timeout(deadline, client.request(attempt)).await {
            Err(_elapsed) => return Err(HttpError::ConnectionReadTimeout),
            Ok(Ok(response)) => return Ok(response),
            Ok(Err(e)) if !retried && closed_before_answering(&e) => {
                tracing::debug!("a pooled connection was closed under a request: retrying");
                retried = true;
            }
            Ok(Err(e)) => return Err(http_error(&e)),
        }
    }
}

fn source_of<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        cause = e.source();
    }
    None
}

/// The connection was up (not a connect failure) and ended before any
/// answer, or an HTTP/2 server said it did not process the request: a
/// GOAWAY whose last stream id lies below it, or a REFUSED_STREAM reset
/// (RFC 9113, 8.7: such a request may be sent again).
fn closed_before_answering(error: &hyper_util::client::legacy::Error) -> bool {
    if error.is_connect() {
        return false;
    }
    let hyper_closed = source_of::<hyper::Error>(error)
        .is_some_and(|e| e.is_incomplete_message() || e.is_canceled());
    let h2_unprocessed = source_of::<h2::Error>(error).is_some_and(|e| {
        e.is_remote() && (e.is_go_away() || e.reason() == Some(h2::Reason::REFUSED_STREAM))
    });
    let reset = source_of::<std::io::Error>(error).is_some_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
        )
    });
    hyper_closed || h2_unprocessed || reset
}

/// The pool's error as wasi-http's, so the component sees the same codes as
/// with wasmtime's own client (DNS, refused, timeout, TLS, protocol).
fn http_error(error: &hyper_util::client::legacy::Error) -> HttpError {
    let io = source_of::<std::io::Error>(error);
    if error.is_connect() {
        return match io {
            Some(e) if e.kind() == std::io::ErrorKind::TimedOut => HttpError::ConnectionTimeout,
            Some(e) => HttpError::Connect(std::io::Error::new(e.kind(), e.to_string())),
            None if source_of::<rustls::Error>(error).is_some() => HttpError::TlsCertificateError,
            None => HttpError::Connect(std::io::Error::other(error.to_string())),
        };
    }
    match source_of::<hyper::Error>(error) {
        Some(e) if e.is_timeout() => HttpError::HttpResponseTimeout,
        Some(e) if e.is_incomplete_message() => HttpError::HttpResponseIncomplete,
        Some(e) if e.is_parse() => HttpError::HttpProtocolError,
        _ if io.is_some() => HttpError::ConnectionTerminated,
        _ => HttpError::HttpProtocolError,
    }
}

/// The response body, failing with `ConnectionReadTimeout` when no frame
/// arrives within the between-bytes timeout (as wasmtime's own client does).
struct BetweenBytes {
    incoming: hyper::body::Incoming,
    timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for BetweenBytes {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(HttpError::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpError::from(e)))),
            Poll::Ready(Some(Ok(frame))) => {
                // No representable deadline (no timeout asked): keep the far-future one.
                if let Some(next) = tokio::time::Instant::now().checked_add(self.timeout) {
                    self.sleep.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.incoming)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.incoming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

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

    /// A keep-alive HTTP/1.1 server counting the connections it accepts and
    /// the requests it answers.
    async fn counting_server() -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (connections, requests) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (accepted, answered) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let answered = answered.clone();
                let service = hyper::service::service_fn(move |_request| {
                    answered.fetch_add(1, Ordering::SeqCst);
                    async {
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from("ok"),
                        )))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(io, service),
                );
            }
        });
        (port, connections, requests)
    }

    async fn get(egress: &mut Egress, url: &str) -> Result<String, HttpError> {
        let body = http_body_util::Empty::<Bytes>::new()
            .map_err(HttpError::from)
            .boxed_unsync();
        let request = http::Request::get(url).body(body).unwrap();
        let (response, _io) =
            Box::into_pin(egress.send_request(request, None, Box::new(async { Ok(()) }))).await?;
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn grants_share_pooled_connections_and_the_allow_list_still_refuses() {
        let (port, connections, requests) = counting_server().await;
        let mut egress = egress(&[&format!("127.0.0.1:{port}")]);
        // Another instance's copy of the host's egress: the same pool.
        let mut other_instance = egress.clone();
        for _ in 0..3 {
            assert_eq!(
                get(&mut egress, &format!("http://127.0.0.1:{port}/"))
                    .await
                    .unwrap(),
                "ok"
            );
            assert_eq!(
                get(&mut other_instance, &format!("http://127.0.0.1:{port}/sts"))
                    .await
                    .unwrap(),
                "ok"
            );
        }
        assert_eq!(requests.load(Ordering::SeqCst), 6);
        assert_eq!(
            connections.load(Ordering::SeqCst),
            1,
            "six requests, one connection"
        );

        // The same server under a name that is not on the list: refused
        // before the pool is asked, so no request reaches it.
        for url in [
            format!("http://localhost:{port}/"),
            format!("http://127.0.0.1:{}/", port + 1),
        ] {
            let refused = get(&mut egress, &url).await;
            assert!(
                matches!(refused, Err(HttpError::HttpRequestDenied)),
                "{url}: {refused:?}"
            );
        }
        assert_eq!(requests.load(Ordering::SeqCst), 6);
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }
}
