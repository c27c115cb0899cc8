//! Attacks and races: parallel revocations (moto and a slow fake IAM),
//! slow uploads, load past the instance pool, a reused instance, clients
//! that leave mid-way, planted terminal escapes, ambiguous requests, closed
//! pipes, file modes.

use crate::faults::{TARGET_ROLE, set_up};
use crate::support::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

const GATEWAY_SECRET: &str = "gw-secret-for-hardening";

/// `[auth]` for trusted headers, and the headers a gateway would send.
fn trusted_header_config() -> String {
    format!("\n[auth]\nmode = \"trusted-header\"\ntrusted_header_secret = \"{GATEWAY_SECRET}\"\n")
}

fn as_user(user: &str, groups: &str) -> Vec<(String, String)> {
    vec![
        ("x-pam-user".into(), user.into()),
        ("x-pam-groups".into(), groups.into()),
        ("x-pam-gateway-secret".into(), GATEWAY_SECRET.into()),
    ]
}

/// One raw HTTP/1.1 exchange: what a test client that misbehaves sends.
fn raw(url: &str, text: &str) -> String {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connecting");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(text.as_bytes()).expect("sending");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or_default()
}

/// A request with arbitrary headers; status and body (JSON or not).
fn send(method: &str, url: &str, headers: &[(String, String)], body: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    if !body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    let response = agent
        .run(builder.body(body.to_string()).expect("a request"))
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let mut text = String::new();
    let _ = response.into_body().into_reader().read_to_string(&mut text);
    (status, text)
}

fn policies_of(fake: &FakeAws, role: &str) -> serde_json::Map<String, Value> {
    get_json(&format!("{}/_policies", fake.url))[role]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// Whose tokens each of our revocation policies denies.
fn denied_user_ids(policies: &serde_json::Map<String, Value>) -> Vec<String> {
    policies
        .iter()
        .filter(|(name, _)| name.starts_with("PamAwsRevoke-"))
        .map(|(_, document)| {
            let document: Value = serde_json::from_str(document.as_str().unwrap()).unwrap();
            document["Statement"][0]["Condition"]["StringLike"]["aws:userid"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Points `pam`'s revocations at the fake's IAM.
fn use_fake_iam(pam: &Pam, fake: &FakeAws) {
    let path = pam.dir.path().join("pam-aws.toml");
    let config = std::fs::read_to_string(&path).unwrap().replace(
        "[aws]\n",
        &format!("[aws]\niam_endpoint = \"{}\"\n", fake.url),
    );
    std::fs::write(path, config).unwrap();
}

/// Makes the fake's IAM answer each action named in `delays` that many seconds late.
fn slow_iam(fake: &FakeAws, delays: Value) {
    ureq::post(&format!("{}/_iam_delays", fake.url))
        .send(delays.to_string())
        .unwrap();
}

/// One session on `target` for each of [`PARALLEL_USERS`].
fn a_session_each(pam: &Pam, target: &str) -> Vec<Value> {
    PARALLEL_USERS
        .iter()
        .map(|user| pam.json(&["access", target, "--user", user])["session"].clone())
        .collect()
}

fn ids_of(sessions: &[Value]) -> Vec<String> {
    sessions
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// The fake IAM denies exactly the users of `sessions`, one policy each.
fn assert_each_denied_in_fake_iam(fake: &FakeAws, sessions: &[Value]) {
    let mut denied = denied_user_ids(&policies_of(fake, "PamTarget"));
    denied.sort();
    let mut expected: Vec<String> = sessions
        .iter()
        .map(|s| s["assumed_role_id"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert_eq!(denied, expected, "every revoked user is denied in IAM");
}

/// Runs `pam-aws revoke ID` for every id at once; each must succeed.
fn revoke_all_at_once(pam: &Pam, ids: &[String]) {
    let children: Vec<_> = ids
        .iter()
        .map(|id| {
            pam.command()
                .args(["revoke", id, "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starting pam-aws revoke")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a parallel revoke failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn parallel_revocations_all_reach_iam_even_when_it_is_slow() {
    let (fake, pam) = set_up("max_attempts = 1");
    use_fake_iam(&pam, &fake);
    // An earlier revocation, long expired: pruned by the next one.
    ureq::post(&format!("{}/", fake.url))
        .send_form([
            ("Action", "PutRolePolicy"),
            ("RoleName", "PamTarget"),
            ("PolicyName", "PamAwsRevoke-20200101T000000Z-old"),
            (
                "PolicyDocument",
                r#"{"Version":"2012-10-17","Statement":[]}"#,
            ),
        ])
        .unwrap();
    let sessions = a_session_each(&pam, "f/a");
    // Every read and write is slow: the window a read-merge-write loses in.
    slow_iam(
        &fake,
        json!({"ListRolePolicies": 0.4, "GetRolePolicy": 0.3, "PutRolePolicy": 0.3}),
    );
    revoke_all_at_once(&pam, &ids_of(&sessions));

    assert_each_denied_in_fake_iam(&fake, &sessions);
    assert!(
        !policies_of(&fake, "PamTarget").contains_key("PamAwsRevoke-20200101T000000Z-old"),
        "the expired revocation was pruned"
    );
    let listed = pam.json(&["sessions"]);
    for id in ids_of(&sessions) {
        let session = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id.as_str())
            .unwrap();
        assert_eq!(session["status"], "revoked");
    }
}

#[test]
fn parallel_rest_revocations_in_one_server_all_reach_iam() {
    let (fake, pam) = set_up(&format!("max_attempts = 1\n{}", trusted_header_config()));
    use_fake_iam(&pam, &fake);
    let sessions = a_session_each(&pam, "f/a");
    let server = pam.serve();
    slow_iam(
        &fake,
        json!({"ListRolePolicies": 0.3, "GetRolePolicy": 0.3, "PutRolePolicy": 0.3}),
    );
    // Threads of one server, each revoking as the session's owner.
    let threads: Vec<_> = sessions
        .iter()
        .map(|session| {
            let url = format!(
                "{}/v1/sessions/{}/revoke",
                server.url,
                session["id"].as_str().unwrap()
            );
            let owner = session["user"].as_str().unwrap().to_string();
            std::thread::spawn(move || send("POST", &url, &as_user(&owner, "dev"), ""))
        })
        .collect();
    for thread in threads {
        let (status, body) = thread.join().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert_each_denied_in_fake_iam(&fake, &sessions);
}

#[test]
fn parallel_revocations_all_reach_iam_in_moto() {
    let w = world();
    let pam = Pam::with_config(&format!("iam_endpoint = \"{}\"\n", w.moto));
    pam.create_resource("par");
    pam.create_account("par", "admin", "15m");
    let sessions = a_session_each(&pam, "par/admin");
    revoke_all_at_once(&pam, &ids_of(&sessions));

    // Read back through IAM as the auditor: one deny per revoked session.
    let denied: Vec<Value> = revocation_statements()
        .iter()
        .map(|s| s["Condition"]["StringLike"]["aws:userid"].clone())
        .collect();
    for session in &sessions {
        assert!(
            denied.contains(&session["assumed_role_id"]),
            "{} is not denied in IAM: {denied:?}",
            session["user"]
        );
    }
}

#[test]
fn stalled_uploads_neither_hold_slots_nor_starve_health_and_users() {
    let (_fake, pam) = set_up(&format!(
        "[server]\nmax_concurrency = 4\nbody_timeout = \"3s\"\n{}",
        trusted_header_config()
    ));
    let server = pam.serve();
    let address = server.url.trim_start_matches("http://").to_string();
    // 80 clients announce 60,000 bytes and send one.
    let stalled: Vec<TcpStream> = (0..80)
        .map(|_| {
            let mut stream = TcpStream::connect(&address).unwrap();
            stream
                .write_all(
                    b"POST /v1/resources HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
                      content-length: 60000\r\n\r\n{",
                )
                .unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let (health, _) = send("GET", &format!("{}/healthz", server.url), &[], "");
    assert_eq!(health, 200);
    let (listed, body) = send(
        "GET",
        &format!("{}/v1/resources", server.url),
        &as_user(ALICE, "pam-admins"),
        "",
    );
    assert_eq!(listed, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "served while 80 uploads stall: {:?}",
        started.elapsed()
    );
    // The slow-loris itself is cut off with a 408.
    let mut first = stalled.into_iter().next().unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    let _ = first.read_to_string(&mut answer);
    assert!(status_line(&answer).contains("408"), "{answer}");
}

#[test]
fn load_past_the_instance_pool_queues_then_sheds_but_never_fails() {
    let (_fake, pam) = set_up(&format!(
        "[server]\nmax_concurrency = 4\nmax_queue = 64\n{}",
        trusted_header_config()
    ));
    let server = pam.serve();
    let access = format!("{}/v1/resources/f/accounts/a/access", server.url);
    let list = format!("{}/v1/resources", server.url);
    let health = format!("{}/healthz", server.url);
    let threads: Vec<_> = (0..200)
        .map(|i| {
            let (access, list, health) = (access.clone(), list.clone(), health.clone());
            std::thread::spawn(move || match i % 3 {
                0 => send("POST", &access, &as_user(ALICE, "pam-admins"), ""),
                1 => send("GET", &list, &as_user(BOB, "pam-admins"), ""),
                _ => send("GET", &health, &[], ""),
            })
        })
        .collect();
    let statuses: Vec<(u16, String)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let failed: Vec<&(u16, String)> = statuses
        .iter()
        .filter(|(status, _)| *status != 200 && *status != 503)
        .collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        failed.first()
    );
    let served = statuses.iter().filter(|(s, _)| *s == 200).count();
    assert!(
        served >= 68,
        "at least the slots and the queue are served: {served}"
    );
    // Shed requests say when to come back.
    let shed = statuses.iter().find(|(s, _)| *s == 503);
    if let Some((_, body)) = shed {
        assert!(body.contains("capacity"), "{body}");
    }
}

/// Resource `f` and account `a`, trusted headers, and one instance slot (so
/// one instance answers request after request), plus `server_keys`.
fn one_slot(server_keys: &str) -> (FakeAws, Pam) {
    set_up(&format!(
        "[server]\nmax_concurrency = 1\n{server_keys}{}",
        trusted_header_config()
    ))
}

/// A serving thread holds its log lines only until it has nothing else to
/// do: a grant's line is in the log while the server keeps running, not
/// when 16 KiB of lines have gathered or the server stops.
#[test]
fn a_request_is_logged_while_the_server_keeps_serving() {
    let (_fake, pam) = one_slot("");
    let server = pam.serve();
    let path = "/v1/resources/f/accounts/a/access";
    let (status, body) = send(
        "POST",
        &format!("{}{path}", server.url),
        &as_user(ALICE, "pam-admins"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = server.log_so_far();
        let logged = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|l| l["message"] == "request" && l["path"] == path && l["status"] == 200);
        if logged {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the grant's line is not in the log 5 s after its answer:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `reused` of every request line in a server's log.
/// In the order the requests were answered: each serving thread writes its
/// lines when it is idle, so two threads' lines may reach the log in the
/// other order, and their timestamps (RFC 3339, fixed width) tell.
fn reused_in(log: &str) -> Vec<u64> {
    let mut lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "request")
        .collect();
    lines.sort_by(|a, b| a["timestamp"].as_str().cmp(&b["timestamp"].as_str()));
    lines
        .iter()
        .map(|l| l["reused"].as_u64().expect("reused on every guest answer"))
        .collect()
}

/// One slot, so one instance answers every request in turn (`reused`
/// counts up in the log): each grant still carries only its own user, its
/// own hop-2 credentials and its own session, and a refused request in
/// between leaves nothing behind for the next.
#[test]
fn a_reused_instance_keeps_each_grant_to_its_own_user_and_credentials() {
    let (fake, pam) = one_slot("");
    // Creating the account proved it with hops of its own: only later ones count.
    let (sts_before, signin_before) = (fake.requests("sts").len(), fake.requests("signin").len());
    let mut server = pam.serve();
    let access = format!("{}/v1/resources/f/accounts/a/access", server.url);
    let users = [ALICE, BOB, CAROL, ALICE, CAROL, BOB];
    let mut granted = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let (status, body) = send("POST", &access, &as_user(user, "pam-admins"), "");
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["session"]["user"], *user, "{answer}");
        granted.push(answer["session"]["id"].as_str().unwrap().to_string());
        if i == 2 {
            // Not an admin and not allowed: refused, nothing recorded.
            let (status, body) = send("POST", &access, &as_user("mallory@example.com", ""), "");
            assert_eq!(status, 403, "{body}");
        }
    }
    let unique: std::collections::BTreeSet<_> = granted.iter().collect();
    assert_eq!(
        unique.len(),
        users.len(),
        "a session per grant: {granted:?}"
    );

    // What the fake STS and sign-in endpoint saw: hop 2 named each user in
    // turn, and every token request carried that grant's own credentials.
    let hop2: Vec<Value> = fake.requests("sts")[sts_before..]
        .iter()
        .filter(|r| r["params"]["RoleArn"] == TARGET_ROLE)
        .cloned()
        .collect();
    let names: Vec<&str> = hop2
        .iter()
        .map(|r| r["params"]["RoleSessionName"].as_str().unwrap())
        .collect();
    assert_eq!(names, users, "hop 2's session names, in order");
    let token_keys: Vec<String> = fake.requests("signin")[signin_before..]
        .iter()
        .map(|r| {
            let session: Value =
                serde_json::from_str(r["params"]["Session"].as_str().unwrap()).unwrap();
            session["sessionId"].as_str().unwrap().to_string()
        })
        .collect();
    let distinct: std::collections::BTreeSet<_> = token_keys.iter().collect();
    assert_eq!(
        distinct.len(),
        users.len(),
        "fresh credentials per token: {token_keys:?}"
    );

    let (status, log) = server.stop();
    assert_eq!(status, Some(0), "{log}");
    let reused = reused_in(&log);
    // The start-up health check, the grants and the refusal, in one instance.
    let answered = 1 + users.len() as u64 + 1;
    assert_eq!(reused, (0..answered).collect::<Vec<_>>(), "{log}");
}

/// `instance_reuse = 1`: every request gets a fresh instance.
#[test]
fn instance_reuse_1_gives_every_request_a_fresh_instance() {
    let (_fake, pam) = one_slot("instance_reuse = 1\n");
    let mut server = pam.serve();
    for _ in 0..3 {
        let (status, body) = send(
            "GET",
            &format!("{}/v1/resources", server.url),
            &as_user(ALICE, "pam-admins"),
            "",
        );
        assert_eq!(status, 200, "{body}");
    }
    let (_, log) = server.stop();
    let reused = reused_in(&log);
    assert_eq!(reused, [0, 0, 0, 0], "{log}");
}

/// An instance unused for its lifetime (10 s) is freed, with whatever
/// earlier requests left in its memory: the next request gets a fresh one.
#[test]
fn an_instance_idle_past_its_lifetime_is_freed() {
    let (_fake, pam) = one_slot("");
    let mut server = pam.serve();
    let resources = format!("{}/v1/resources", server.url);
    let list = || send("GET", &resources, &as_user(ALICE, "pam-admins"), "").0;
    assert_eq!(list(), 200);
    std::thread::sleep(Duration::from_secs(13));
    assert_eq!(list(), 200);
    let (_, log) = server.stop();
    // The start-up health check, the list in the same instance, then a fresh one.
    assert_eq!(reused_in(&log), [0, 1, 0], "{log}");
}

#[test]
fn work_a_client_abandons_is_finished_and_audited() {
    let (fake, pam) = set_up(&format!(
        "max_attempts = 1\n[server]\nrequest_timeout = \"1s\"\n{}",
        trusted_header_config()
    ));
    use_fake_iam(&pam, &fake);
    let server = pam.serve();

    // A grant whose hop 2 is slow: the client gets a 504 after 1 s...
    fake.script("sts", json!([{"delay": 0}, {"delay": 2.5}]));
    let access = format!("{}/v1/resources/f/accounts/a/access", server.url);
    let (status, body) = send("POST", &access, &as_user(ALICE, "pam-admins"), "");
    assert_eq!(status, 504, "{body}");
    // ...but the grant runs on, and its session and audit event are stored.
    std::thread::sleep(Duration::from_secs(3));
    let sessions = pam.json(&["sessions", "--user", ALICE]);
    assert_eq!(sessions.as_array().map(Vec::len), Some(1), "{sessions}");
    let event = pam.json(&["audit", "--limit", "1"])[0].clone();
    assert_eq!(event["action"], "access.grant");

    // A revocation whose client hangs up while IAM is slow still lands.
    let id = sessions[0]["id"].as_str().unwrap().to_string();
    slow_iam(&fake, json!({"PutRolePolicy": 2}));
    let revoke = format!("/v1/sessions/{id}/revoke");
    let address = server.url.trim_start_matches("http://").to_string();
    {
        let mut stream = TcpStream::connect(&address).unwrap();
        let head = format!(
            "POST {revoke} HTTP/1.1\r\nHost: x\r\nx-pam-user: {ALICE}\r\nx-pam-groups: pam-admins\r\n\
             x-pam-gateway-secret: {GATEWAY_SECRET}\r\ncontent-length: 0\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    } // the client goes away here
    std::thread::sleep(Duration::from_secs(3));
    let session = pam.json(&["sessions", "--user", ALICE])[0].clone();
    assert_eq!(session["status"], "revoked");
    let event = pam.json(&["audit", "--limit", "1"])[0].clone();
    assert_eq!(
        (event["action"].as_str(), event["outcome"].as_str()),
        (Some("session.revoke"), Some("success"))
    );
    assert_eq!(
        denied_user_ids(&policies_of(&fake, "PamTarget")),
        [session["assumed_role_id"].as_str().unwrap()]
    );
}

/// Connections are handed to serve's threads in turn, so grants on
/// separate connections run on separate threads: a stop must let each
/// thread finish its own, answer them, and exit 0.
#[test]
fn a_stop_lets_grants_in_flight_on_every_serving_thread_finish() {
    let (fake, pam) = set_up(&format!("max_attempts = 1\n{}", trusted_header_config()));
    let mut server = pam.serve();
    let grants = 4;
    // Every hop 1 is slow: the stop arrives while all of them wait on it.
    fake.script("sts", json!(vec![json!({"delay": 1.5}); grants]));
    let access = format!("{}/v1/resources/f/accounts/a/access", server.url);
    let clients: Vec<_> = (0..grants)
        .map(|_| {
            let access = access.clone();
            std::thread::spawn(move || send("POST", &access, &as_user(ALICE, "pam-admins"), ""))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let (status, log) = server.stop();
    assert_eq!(status, Some(0), "{log}");
    for client in clients {
        let (status, body) = client.join().unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"url\""), "{body}");
    }
    let sessions = pam.json(&["sessions", "--user", ALICE]);
    assert_eq!(
        sessions.as_array().map(Vec::len),
        Some(grants),
        "{sessions}"
    );
    assert!(log.contains("finishing in-flight requests"), "{log}");
}

#[test]
fn planted_escapes_never_reach_the_operators_terminal() {
    let (_fake, pam) = set_up(&trusted_header_config());
    let server = pam.serve();
    let planted = "evil\u{1b}]0;owned\u{7}\nFAKE LINE\u{202e}";
    let body = json!({"name": planted, "role_arn": "arn:aws:iam::123456789012:role/R"});
    let (status, _) = send(
        "POST",
        &format!("{}/v1/resources", server.url),
        &as_user(BOB, "dev"),
        &body.to_string(),
    );
    assert_eq!(status, 403);
    let table = pam.run(&["audit", "--limit", "3"]).ok().stdout;
    assert!(
        !table
            .chars()
            .any(|c| c == '\u{1b}' || c == '\u{7}' || c == '\u{202e}'),
        "raw control characters printed: {table:?}"
    );
    assert!(table.contains("\\u{1b}"), "escaped instead: {table}");
    assert!(
        !table.lines().any(|l| l.starts_with("FAKE LINE")),
        "{table}"
    );
}

#[test]
fn ambiguous_requests_are_refused_with_400() {
    let (_fake, pam) = set_up(&trusted_header_config());
    let server = pam.serve();
    // Two user headers, in both orders: the client's copy must never win.
    for (first, second) in [(BOB, ALICE), (ALICE, BOB)] {
        let mut headers = as_user(first, "dev");
        headers.push(("x-pam-user".into(), second.into()));
        let (status, body) = send("GET", &format!("{}/v1/sessions", server.url), &headers, "");
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("x-pam-user"), "{body}");
    }
    let mut groups = as_user(BOB, "dev");
    groups.push(("x-pam-groups".into(), "pam-admins".into()));
    assert_eq!(
        send("GET", &format!("{}/v1/audit", server.url), &groups, "").0,
        400
    );
    // No Host header at all: a 400, not a 500.
    let answer = raw(&server.url, "GET /healthz HTTP/1.0\r\n\r\n");
    assert!(status_line(&answer).contains("400"), "{answer}");
}

#[test]
fn a_reader_that_leaves_early_is_not_a_crash() {
    let (_fake, pam) = set_up("");
    let mut child = pam
        .command()
        .args(["--json", "audit"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // `| head -0`: the pipe closes before anything is written
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(output.status.code(), Some(101), "{stderr}");
}

#[cfg(unix)]
#[test]
fn the_store_and_compiled_code_are_private_and_config_errors_keep_secrets() {
    use std::os::unix::fs::PermissionsExt;
    let mut pam = Pam::new();
    let cache = tempfile::tempdir().unwrap();
    pam.set_env(
        "PAM_AWS_CACHE_DIR",
        &cache.path().join("fresh").display().to_string(),
    );
    pam.json(&["resource", "list"]);
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode(&pam.dir.path().join("pam.db")) & 0o077, 0);
    let fresh = cache.path().join("fresh");
    assert_eq!(mode(&fresh) & 0o077, 0, "cache dir");
    for entry in std::fs::read_dir(&fresh).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path) & 0o077, 0, "{}", path.display());
    }

    // A misspelt secret key, an unquoted secret, a Redis password.
    let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
    for config in [
        format!("[aws]\nsecret_acess_key = \"{secret}\"\n"),
        format!("[aws]\nsecret_access_key = {secret}\n"),
        format!("[store]\nurl = \"redis://:{secret}@127.0.0.1:1/0\"\n"),
    ] {
        std::fs::write(pam.dir.path().join("pam-aws.toml"), &config).unwrap();
        let run = pam.run(&["--json", "resource", "list"]);
        assert_ne!(run.code, 0);
        assert!(
            !run.stderr.contains(secret) && !run.stdout.contains(secret),
            "{config}: {} {}",
            run.stderr,
            run.stdout
        );
    }
    // A config holding a secret and readable by others is warned about.
    std::fs::write(
        pam.dir.path().join("pam-aws.toml"),
        "[store]\nurl = \"memory:\"\n[auth]\nhs256_secret = \"s\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        pam.dir.path().join("pam-aws.toml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let run = pam.run(&["resource", "list"]).ok();
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
}
