//! The host's pooled egress, seen from the fake STS: which connection every
//! request came on.

use crate::faults::{RESOURCE_ROLE, TARGET_ROLE, set_up};
use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;

fn connections(requests: &[Value]) -> BTreeSet<u64> {
    requests
        .iter()
        .map(|r| r["connection"].as_u64().expect("a connection number"))
        .collect()
}

/// Everything the fake received after the first `skip` requests.
fn received_since(fake: &FakeAws, skip: usize) -> Vec<Value> {
    let all = get_json(&format!("{}/_requests", fake.url));
    all.as_array().cloned().unwrap_or_default().split_off(skip)
}

fn admin() -> String {
    token(ALICE, &["pam-admins"], 300)
}

fn grant(server: &Server) -> Answer {
    let access = format!("{}/v1/resources/f/accounts/a/access", server.url);
    request("POST", &access, Some(&admin()), None)
}

#[test]
fn one_cli_access_makes_hop_1_hop_2_and_the_token_on_one_connection() {
    let (fake, pam) = set_up("");
    let before = received_since(&fake, 0).len();
    pam.json(&["access", "f/a", "--user", ALICE]);
    let requests = received_since(&fake, before);
    let kinds: Vec<_> = requests.iter().map(|r| r["kind"].clone()).collect();
    assert_eq!(kinds, [json!("sts"), json!("sts"), json!("signin")]);
    assert_eq!(connections(&requests).len(), 1, "{requests:#?}");
}

#[test]
fn serve_reuses_pooled_connections_across_grants() {
    let (fake, pam) = set_up(&jwt_auth_config());
    let server = pam.serve();
    let before = received_since(&fake, 0).len();
    for _ in 0..10 {
        let answer = grant(&server);
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let requests = received_since(&fake, before);
    assert_eq!(requests.len(), 30, "two hops and a token per grant");
    // Each grant comes on a client connection of its own, and serve hands
    // those to its threads (one per core) in turn, each with its own pool:
    // one upstream connection per thread, or two if a checkout raced a return.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let used = connections(&requests);
    assert!(
        used.len() <= 2 * threads.min(10),
        "30 requests on {} connections ({threads} serving threads)",
        used.len()
    );
}

#[test]
fn a_pooled_connection_the_server_closed_is_recovered_without_an_aws_retry() {
    // One attempt per AWS call: a grant that succeeds was not retried by the component.
    let (fake, pam) = set_up(&format!("max_attempts = 1\n{}", jwt_auth_config()));
    let server = pam.serve();
    assert_eq!(grant(&server).status, 200);

    // The server answers hop 1, then closes that connection without saying so.
    fake.script("sts", json!([{"close": true}]));
    let before = received_since(&fake, 0).len();
    let answer = grant(&server);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let requests = received_since(&fake, before);
    assert_eq!(requests.len(), 3);
    assert_ne!(
        requests[0]["connection"], requests[1]["connection"],
        "hop 2 went on a new connection"
    );

    // The server reads hop 1 on a pooled connection and closes it unanswered:
    // the host sends it again on another connection.
    fake.script("sts", json!([{"drop": true}]));
    let before = received_since(&fake, 0).len();
    let answer = grant(&server);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let requests = received_since(&fake, before);
    let kinds: Vec<_> = requests.iter().map(|r| r["kind"].clone()).collect();
    assert_eq!(
        kinds,
        [json!("sts"), json!("sts"), json!("sts"), json!("signin")]
    );
    assert_eq!(
        requests[0]["params"], requests[1]["params"],
        "the same hop 1, sent again"
    );
    assert_ne!(requests[0]["connection"], requests[1]["connection"]);
    let audit = format!("{}/v1/audit?limit=1", server.url);
    let events = request("GET", &audit, Some(&admin()), None).body;
    assert_eq!(events[0]["action"], "access.grant", "{events}");
    assert_eq!(events[0]["outcome"], "success", "{events}");
}

/// nginx terminating TLS in front of the fake (offering HTTP/2 by ALPN, or
/// HTTP/1.1 only), logging each request's protocol and connection number.
struct TlsProxy {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl TlsProxy {
    fn start(upstream: &str, http2: bool) -> TlsProxy {
        let dir = tempfile::tempdir().unwrap();
        test_certificates(dir.path(), "proxy");
        let port = free_port();
        let d = dir.path().display();
        let listen = if http2 { "ssl http2" } else { "ssl" };
        let config = format!(
            "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  log_format grants '$server_protocol $connection $request_method $uri';\n\
               access_log {d}/access.log grants;\n  client_body_temp_path {d}/body;\n\
               proxy_temp_path {d}/proxy;\n\
               server {{\n    listen 127.0.0.1:{port} {listen};\n\
                 ssl_certificate {d}/proxy.pem; ssl_certificate_key {d}/proxy.key;\n\
                 location / {{ proxy_pass {upstream}; proxy_http_version 1.1; }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), config).unwrap();
        let conf = dir.path().join("nginx.conf");
        let error_log = dir.path().join("error.log");
        // Debian puts nginx in /usr/sbin, which a non-root PATH may lack.
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("nginx");
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(&error_log)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx (scripts/setup --tests installs it)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        TlsProxy { child, port, dir }
    }

    /// `(protocol, connection)` of every request so far.
    fn log(&self) -> Vec<(String, String)> {
        let log = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        log.lines()
            .map(|line| {
                let mut fields = line.split(' ');
                let protocol = fields.next().unwrap_or_default().to_string();
                (protocol, fields.next().unwrap_or_default().to_string())
            })
            .collect()
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        // SIGTERM, so the master stops its worker too (SIGKILL would orphan it).
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

#[test]
fn https_endpoints_are_reached_over_one_tls_connection_with_the_platform_roots() {
    let fake = FakeAws::start();
    let proxy = TlsProxy::start(&fake.url, true);
    let mut pam = through_tls(proxy.port, proxy.dir.path(), "");
    let requests = one_grant(&pam, &proxy);
    // HTTP/2, offered by the endpoint, is taken.
    assert!(
        requests.iter().all(|(protocol, _)| protocol == "HTTP/2.0"),
        "{requests:?}"
    );

    // Without our CA the same call is refused as a TLS failure, nothing granted.
    let before = proxy.log().len();
    pam.set_env("SSL_CERT_FILE", "/nonexistent");
    let refused = pam.run(&["access", "f/a", "--user", ALICE, "--json"]);
    assert_ne!(refused.code, 0, "{}", refused.stderr);
    assert_eq!(proxy.log().len(), before, "no request got through");
}

#[test]
fn an_https_endpoint_without_http2_is_reached_over_http1_on_one_connection() {
    let fake = FakeAws::start();
    let proxy = TlsProxy::start(&fake.url, false);
    let requests = one_grant(&through_tls(proxy.port, proxy.dir.path(), ""), &proxy);
    assert!(
        requests.iter().all(|(protocol, _)| protocol == "HTTP/1.1"),
        "{requests:?}"
    );
}

/// A CLI whose STS and sign-in endpoints are the TLS endpoint on `port`,
/// trusting the test CA in `dir` as a platform root (webpki's roots do not
/// know it), with `extra` config, a resource and an account.
fn through_tls(port: u16, dir: &std::path::Path, extra: &str) -> Pam {
    let https = format!("https://127.0.0.1:{port}");
    let ca = dir.join("ca.pem").display().to_string();
    let env = vec![
        ("AWS_ACCESS_KEY_ID".to_string(), "AKIDFAKE".to_string()),
        (
            "AWS_SECRET_ACCESS_KEY".to_string(),
            "fake-secret".to_string(),
        ),
        ("SSL_CERT_FILE".to_string(), ca),
    ];
    let mut pam = Pam::configured(
        &https,
        &format!("{https}/federation"),
        "us-east-1",
        extra,
        env,
    );
    pam.set_env("SSL_CERT_DIR", "/nonexistent");
    crate::faults::create_resource_and_account(&pam);
    pam
}

/// One `access` through `proxy`: granted, its three requests (hop 1, hop 2,
/// the token) on one connection; their `(protocol, connection)`.
fn one_grant(pam: &Pam, proxy: &TlsProxy) -> Vec<(String, String)> {
    let before = proxy.log().len();
    let grant = pam.json(&["access", "f/a", "--user", ALICE]);
    assert_eq!(grant["session"]["status"], "active", "{grant}");
    let requests = proxy.log().split_off(before);
    assert_eq!(requests.len(), 3, "{requests:?}");
    let used: BTreeSet<_> = requests.iter().map(|(_, connection)| connection).collect();
    assert_eq!(
        used.len(),
        1,
        "hop 1, hop 2 and the token on one connection: {requests:?}"
    );
    requests
}

/// An HTTP/2-only TLS front for the fake that refuses a scripted request
/// as HTTP/2 servers do when they shed a connection
/// (`tests/support/h2_front.py`).
struct H2Front {
    port: u16,
    control: String,
    dir: tempfile::TempDir,
    _helper: Helper,
}

impl H2Front {
    fn start(upstream: &str) -> H2Front {
        let dir = tempfile::tempdir().unwrap();
        test_certificates(dir.path(), "front");
        let (port, control) = (free_port(), free_port());
        let file = |name: &str| dir.path().join(name).display().to_string();
        let helper = spawn_helper(
            "h2_front.py",
            &[
                &port.to_string(),
                &control.to_string(),
                &file("front.pem"),
                &file("front.key"),
                upstream,
            ],
            control,
        );
        wait_for_port(port, "h2_front.py");
        H2Front {
            port,
            control: format!("http://127.0.0.1:{control}"),
            dir,
            _helper: helper,
        }
    }

    /// Passes `skip` more requests, then refuses the next one: `goaway`
    /// (below its stream id, then the connection closes) or `reset`
    /// (RST_STREAM with REFUSED_STREAM).
    fn refuse(&self, skip: usize, how: &str) {
        ureq::post(&format!("{}/_refuse", self.control))
            .send(json!({"skip": skip, "how": how}).to_string())
            .expect("scripting the HTTP/2 front");
    }

    /// `{connection, stream, path, outcome}` of every request so far.
    fn log(&self) -> Vec<Value> {
        get_json(&format!("{}/_log", self.control))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

#[test]
fn a_request_an_http2_server_refused_is_sent_again_without_an_aws_retry() {
    for how in ["goaway", "reset"] {
        let fake = FakeAws::start();
        let front = H2Front::start(&fake.url);
        // One attempt per AWS call: a grant that succeeds was not retried by the component.
        let pam = through_tls(front.port, front.dir.path(), "max_attempts = 1\n");
        let (before, before_sts) = (front.log().len(), fake.requests("sts").len());
        front.refuse(1, how); // hop 1 is answered, hop 2 refused
        let grant = pam.json(&["access", "f/a", "--user", ALICE]);
        assert_eq!(grant["session"]["status"], "active", "{how}: {grant}");

        let log = front.log().split_off(before);
        let outcomes: Vec<_> = log.iter().map(|r| r["outcome"].clone()).collect();
        assert_eq!(
            outcomes,
            [
                json!("answered"),
                json!(how),
                json!("answered"),
                json!("answered")
            ],
            "{how}: {log:#?}"
        );
        if how == "goaway" {
            assert_ne!(
                log[1]["connection"], log[2]["connection"],
                "after a GOAWAY, hop 2 goes on a new connection: {log:#?}"
            );
        }
        // The refused request never reached AWS; each hop arrived once.
        let sts = fake.requests("sts").split_off(before_sts);
        let roles: Vec<_> = sts.iter().map(|r| r["params"]["RoleArn"].clone()).collect();
        assert_eq!(roles, [json!(RESOURCE_ROLE), json!(TARGET_ROLE)], "{how}");
    }
}
