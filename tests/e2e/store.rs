//! The store at scale and shared: paging while grants land, replicas on
//! one real redis-server (AUTH, a restart, TLS), retention, and the
//! upgrade of a store the first release wrote.

use crate::support::*;
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

const ADMIN: &str = "root@example.com";

fn admin_token() -> String {
    token(ADMIN, &["pam-admins"], 3600)
}

fn user_token(email: &str) -> String {
    token(email, &["dev"], 3600)
}

/// A `pam-aws` with the JWT auth the REST tests use, revocation through
/// moto, and `store` (a URL) as its store.
fn operator(store: &str, extra: &str) -> Pam {
    let w = world();
    let pam = Pam::with_config(&format!(
        "iam_endpoint = \"{}\"\n{}\n{extra}",
        w.moto,
        jwt_auth_config()
    ));
    let path = pam.dir.path().join("pam-aws.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("sqlite://pam.db", store)).unwrap();
    pam
}

/// A resource and an account users of example.com may use.
fn provision(pam: &Pam) {
    pam.create_resource("prod");
    pam.json(&[
        "account",
        "create",
        "--resource",
        "prod",
        "--name",
        "admin",
        "--role-arn",
        &world().target_role,
        "--duration",
        "15m",
        "--allow",
        "@example.com",
    ]);
}

fn grant(server: &Server, user: &str) -> Value {
    let url = format!("{}/v1/resources/prod/accounts/admin/access", server.url);
    let answer = request("POST", &url, Some(&user_token(user)), None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["session"].clone()
}

fn link_next(answer: &Answer) -> Option<String> {
    let link = answer
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("link"))?;
    let (target, rel) = link.1.split_once("; ")?;
    assert_eq!(rel, "rel=\"next\"");
    Some(
        target
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string(),
    )
}

/// Every page of `path` through `server`, following `Link`.
fn every_page(server: &Server, path: &str, between: impl Fn()) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next = Some(path.to_string());
    while let Some(path) = next {
        let answer = request(
            "GET",
            &format!("{}{path}", server.url),
            Some(&admin_token()),
            None,
        );
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        let ids = answer.body.as_array().unwrap().iter();
        pages.push(
            ids.map(|item| item["id"].as_str().unwrap().to_string())
                .collect(),
        );
        next = link_next(&answer);
        between();
    }
    pages
}

#[test]
fn pages_have_no_duplicates_or_gaps_while_grants_land() {
    let pam = operator("sqlite://pam.db", "");
    provision(&pam);
    let server = pam.serve();
    let before: Vec<String> = (0..24)
        .map(|i| {
            grant(&server, PARALLEL_USERS[i % PARALLEL_USERS.len()])["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // A writer keeps granting while the reader pages, on another thread.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (pages, during) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut ids = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ids.push(grant(&server, ALICE)["id"].as_str().unwrap().to_string());
            }
            ids
        });
        let pages = every_page(&server, "/v1/sessions?limit=5", || {
            std::thread::sleep(Duration::from_millis(50))
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (pages, writer.join().unwrap())
    });
    assert!(!during.is_empty(), "grants landed while paging");
    let seen: Vec<String> = pages.concat();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no session twice");
    assert!(pages.iter().all(|page| page.len() <= 5));
    // Everything granted before the first page is there, newest first.
    let old: Vec<&String> = seen.iter().filter(|id| before.contains(id)).collect();
    let mut expected: Vec<&String> = before.iter().collect();
    expected.reverse();
    assert_eq!(old, expected, "no gap in what existed");

    // The CLI pages the same way, and filters combine with paging.
    let first = pam.json(&["sessions", "--limit", "3"]);
    let last = first[2]["id"].as_str().unwrap();
    let second = pam.json(&["sessions", "--limit", "3", "--before", last]);
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(ids(&second).iter().all(|id| !ids(&first).contains(id)));
    let text = pam.run(&["sessions", "--limit", "3"]).ok().stdout;
    assert!(text.contains(&format!("--before {last}")), "{text}");
    let bobs = pam.json(&[
        "sessions",
        "--user",
        BOB,
        "--account",
        "prod/admin",
        "--active",
        "--limit",
        "1000",
    ]);
    let expected_bobs = before
        .iter()
        .enumerate()
        .filter(|(i, _)| PARALLEL_USERS[i % PARALLEL_USERS.len()] == BOB)
        .count();
    assert_eq!(bobs.as_array().unwrap().len(), expected_bobs);
    assert!(
        bobs.as_array()
            .unwrap()
            .iter()
            .all(|s| s["user"] == BOB && s["status"] == "active")
    );
    let audit = pam.json(&["audit", "--limit", "2"]);
    let older = pam.json(&[
        "audit",
        "--limit",
        "2",
        "--before",
        audit[1]["id"].as_str().unwrap(),
    ]);
    assert_ne!(audit[1]["id"], older[0]["id"]);
    let bad = pam.run(&["audit", "--limit", "2", "--before", "not-an-event"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("before"), "{}", bad.stderr);
}

/// Two `pam-aws serve` and a CLI on one Redis with a password: one state.
#[test]
fn replicas_on_one_redis_share_one_state_and_ride_out_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().display().to_string();
    let mut redis = RedisServer::launch(&[
        "--requirepass",
        "s3cret-redis-pass",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        &dir,
    ]);
    let url = format!("redis://:s3cret-redis-pass@127.0.0.1:{}/0", redis.port);
    let (one, two) = (operator(&url, ""), operator(&url, ""));
    provision(&one);
    let (a, b) = (one.serve(), two.serve());
    let on_a = grant(&a, ALICE);
    let on_b = grant(&b, BOB);
    for server in [&a, &b] {
        let answer = request(
            "GET",
            &format!("{}/v1/sessions", server.url),
            Some(&admin_token()),
            None,
        );
        let ids: Vec<&Value> = answer
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["id"])
            .collect();
        assert_eq!(ids, [&on_b["id"], &on_a["id"]], "one list on every replica");
    }
    // A revoke on B is what A (and the CLI) see.
    let revoke = format!(
        "{}/v1/sessions/{}/revoke",
        b.url,
        on_a["id"].as_str().unwrap()
    );
    assert_eq!(
        request("POST", &revoke, Some(&admin_token()), None).status,
        200
    );
    let mine = request(
        "GET",
        &format!("{}/v1/sessions", a.url),
        Some(&user_token(ALICE)),
        None,
    );
    assert_eq!(mine.body[0]["status"], "revoked");
    assert_eq!(
        one.json(&["sessions", "--user", ALICE])[0]["status"],
        "revoked"
    );

    // Redis goes away: a clear 503, nothing granted, nothing half-written.
    redis.stop();
    let down = request(
        "POST",
        &format!("{}/v1/resources/prod/accounts/admin/access", a.url),
        Some(&user_token(CAROL)),
        None,
    );
    assert_eq!(down.status, 503, "{}", down.body);
    let message = down.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Redis") && message.contains("unavailable"),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");
    assert!(
        down.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
    );
    let listed = request(
        "GET",
        &format!("{}/v1/sessions", b.url),
        Some(&admin_token()),
        None,
    );
    assert_eq!(listed.status, 503);
    let cli = one.run(&["sessions"]);
    assert_eq!(cli.code, 1, "{}", cli.stderr);
    assert!(
        cli.stderr.contains("unavailable") && !cli.stderr.contains("s3cret"),
        "{}",
        cli.stderr
    );

    // It comes back: both replicas resume without a restart of their own.
    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = request(
            "GET",
            &format!("{}/v1/sessions", a.url),
            Some(&admin_token()),
            None,
        );
        if answer.status == 200 {
            assert_eq!(
                answer.body.as_array().unwrap().len(),
                2,
                "nothing lost, nothing half-written"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not resume: {}",
            answer.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Carol's attempt while Redis was down left no trace: no session, no event.
    let audit = request(
        "GET",
        &format!("{}/v1/audit", a.url),
        Some(&admin_token()),
        None,
    );
    assert!(
        audit
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] != CAROL),
        "{}",
        audit.body
    );
    let after = grant(&b, CAROL);
    let answer = request(
        "GET",
        &format!("{}/v1/sessions?limit=1", a.url),
        Some(&admin_token()),
        None,
    );
    assert_eq!(answer.body[0]["id"], after["id"]);
    assert!(link_next(&answer).is_some());

    // A wrong password is refused plainly, without echoing it.
    let wrong = operator(
        &format!("redis://:not-the-pass@127.0.0.1:{}/0", redis.port),
        "",
    );
    let refused = wrong.run(&["resource", "list"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("authentication failed")
            && !refused.stderr.contains("not-the-pass"),
        "{}",
        refused.stderr
    );
}

/// `rediss://`: TLS to a redis-server with a certificate from our own CA.
#[test]
fn a_tls_redis_is_reached_with_rediss() {
    let certs = tempfile::tempdir().unwrap();
    test_certificates(certs.path(), "redis");
    let path = |name: &str| certs.path().join(name).display().to_string();
    let redis = RedisServer::launch(&[
        "--port",
        "0",
        "--tls-port",
        "{port}",
        "--tls-cert-file",
        &path("redis.pem"),
        "--tls-key-file",
        &path("redis.key"),
        "--tls-ca-cert-file",
        &path("ca.pem"),
        "--tls-auth-clients",
        "no",
    ]);
    let mut pam = operator(&format!("rediss://127.0.0.1:{}/0", redis.port), "");
    pam.set_env("SSL_CERT_FILE", &path("ca.pem"));
    provision(&pam);
    assert_eq!(pam.json(&["resource", "list"])[0]["name"], "prod");
    // Without our CA the certificate is not trusted: no plaintext fallback.
    pam.set_env("SSL_CERT_FILE", "/nonexistent");
    let untrusted = pam.run(&["resource", "list"]);
    assert_eq!(untrusted.code, 1, "{}", untrusted.stdout);
}

/// The atomics and batch calls on Redis, as the component's host makes them.
#[test]
fn redis_counters_and_batches_are_atomic_across_hosts() {
    let redis = RedisServer::start();
    let open = || pam_aws_host::kv::open(&redis.url, Path::new(".")).unwrap();
    let (one, two) = (open(), open());
    assert_eq!(one.increment("b", "count/x", 0).unwrap(), 0);
    let handed: Vec<u64> = std::thread::scope(|scope| {
        let threads: Vec<_> = [&one, &two, &one, &two]
            .into_iter()
            .map(|store| {
                scope.spawn(move || {
                    (0..100)
                        .map(|_| store.increment("b", "count/x", 1).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    let mut sorted = handed.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (1..=400).collect::<Vec<u64>>(),
        "every value handed out once"
    );
    assert_eq!(
        two.get("b", "count/x").unwrap().as_deref(),
        Some(&b"400"[..])
    );
    one.set("b", "text", b"hello").unwrap();
    assert!(two.increment("b", "text", 1).is_err());
    let entries = vec![
        ("k/1".to_string(), b"one".to_vec()),
        ("k/2".to_string(), b"two".to_vec()),
    ];
    one.set_many("b", &entries).unwrap();
    let keys = ["k/2", "k/none", "k/1"].map(String::from);
    assert_eq!(
        two.get_many("b", &keys).unwrap(),
        [Some(b"two".to_vec()), None, Some(b"one".to_vec())]
    );
    assert_eq!(two.get_many("other", &keys).unwrap(), [None, None, None]);
    two.delete_many("b", &keys).unwrap();
    assert_eq!(one.get_many("b", &keys).unwrap(), [None, None, None]);
}

/// Writes the first release's store (tests/fixtures/layout-1) into `url`.
fn load_layout_1(url: &str, base: &Path) {
    let store = pam_aws_host::kv::open(url, base).unwrap();
    let lines =
        std::fs::read_to_string(root().join("tests/fixtures/layout-1/store.jsonl")).unwrap();
    for line in lines.lines() {
        // The fixture's moto had another project id than this test world's.
        let line = line.replace("\"demo-project\"", &format!("\"{EXTERNAL_ID}\""));
        let entry: Value = serde_json::from_str(&line).unwrap();
        let value = serde_json::to_vec(&entry["value"]).unwrap();
        store
            .set("", entry["key"].as_str().unwrap(), &value)
            .unwrap();
    }
}

fn fixture(name: &str) -> Value {
    let path = root().join("tests/fixtures/layout-1").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A record without its read-time status.
fn without_status(mut session: Value) -> Value {
    session.as_object_mut().unwrap().remove("status");
    session
}

#[test]
fn a_store_the_first_release_wrote_is_upgraded_with_nothing_lost() {
    let redis = RedisServer::start();
    for store in ["sqlite://pam.db", redis.url.as_str()] {
        let pam = operator(store, "");
        load_layout_1(store, pam.dir.path());
        // First use upgrades it; every record reads as the old release printed it.
        let sessions = pam.json(&["sessions"]);
        let old_sessions = fixture("sessions.json");
        let strip = |v: &Value| -> Vec<Value> {
            v.as_array()
                .unwrap()
                .iter()
                .cloned()
                .map(without_status)
                .collect()
        };
        assert_eq!(strip(&sessions), strip(&old_sessions), "{store}");
        let revoked: Vec<&Value> = sessions
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "revoked")
            .collect();
        assert_eq!(revoked.len(), 1, "the revoked session stays revoked");
        let audit = pam.json(&["audit"]);
        assert_eq!(audit[0]["action"], "store.migrate");
        assert!(
            audit[0]["detail"]
                .as_str()
                .unwrap()
                .contains("11 record(s)"),
            "{}",
            audit[0]
        );
        assert_eq!(
            audit.as_array().unwrap()[1..],
            fixture("audit.json").as_array().unwrap()[..]
        );
        assert_eq!(pam.json(&["resource", "list"])[0]["name"], "prod");
        assert_eq!(
            pam.json(&["account", "list", "--resource", "prod"])[0]["name"],
            "admin"
        );
        let bob = pam.json(&["sessions", "--user", BOB]);
        assert_eq!(bob.as_array().unwrap().len(), 1);
        // And it works on: a new grant lists first.
        let new = pam.json(&["access", "prod/admin", "--user", ALICE]);
        assert_eq!(
            pam.json(&["sessions", "--limit", "1"])[0]["id"],
            new["session"]["id"]
        );
        let again = pam.run(&["migrate"]).ok();
        assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    }
}

#[test]
fn migrate_upgrades_explicitly_and_refuses_a_newer_store() {
    let pam = operator("sqlite://pam.db", "");
    load_layout_1("sqlite://pam.db", pam.dir.path());
    let report = pam.json(&["migrate"]);
    assert_eq!(
        (
            report["from_layout"].as_u64(),
            report["to_layout"].as_u64(),
            report["records"].as_u64()
        ),
        (Some(1), Some(2), Some(11))
    );
    let store = pam_aws_host::kv::open("sqlite://pam.db", pam.dir.path()).unwrap();
    store.set("", "layout", b"3").unwrap();
    for args in [&["sessions"][..], &["migrate"][..]] {
        let refused = pam.run(args);
        assert_eq!(refused.code, 1, "{args:?}");
        assert!(refused.stderr.contains("layout 3"), "{}", refused.stderr);
    }
}

#[test]
fn retention_prunes_old_records_from_the_cli_and_serve_but_never_an_active_session() {
    let config = |interval: &str| {
        format!(
            "audit_retention = \"1m\"\nsession_retention = \"1m\"\nprune_interval = \"{interval}\"\n"
        )
    };
    // The fixture's records are older than a minute; a new grant is active.
    let pam = operator("sqlite://pam.db", "");
    let path = pam.dir.path().join("pam-aws.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("[store]\n", &format!("[store]\n{}", config("1h")), 1),
    )
    .unwrap();
    load_layout_1("sqlite://pam.db", pam.dir.path());
    let active = pam.json(&["access", "prod/admin", "--user", ALICE]);
    let report = pam.json(&["prune"]);
    assert_eq!(
        (report["audit_events"].as_u64(), report["sessions"].as_u64()),
        (Some(6), Some(3)),
        "{report}"
    );
    let sessions = pam.json(&["sessions"]);
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    assert_eq!(sessions[0]["id"], active["session"]["id"]);
    let audit = pam.json(&["audit"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["store.prune", "access.grant", "store.migrate"]);
    assert!(
        pam.json(&["sessions", "--user", BOB])
            .as_array()
            .unwrap()
            .is_empty()
    );

    // `serve` prunes by itself, in the background.
    let served = operator("sqlite://pam.db", "");
    let path = served.dir.path().join("pam-aws.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("[store]\n", &format!("[store]\n{}", config("1s")), 1),
    )
    .unwrap();
    load_layout_1("sqlite://pam.db", served.dir.path());
    let server = served.serve();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = request(
            "GET",
            &format!("{}/v1/audit?limit=1", server.url),
            Some(&admin_token()),
            None,
        );
        if answer.body[0]["action"] == "store.prune" {
            assert_eq!(answer.body[0]["actor"], "pam-aws serve (retention)");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve never pruned: {}",
            answer.body
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let answer = request(
        "GET",
        &format!("{}/v1/sessions", server.url),
        Some(&admin_token()),
        None,
    );
    assert_eq!(answer.body, Value::Array(vec![]));

    // A retention that is not a duration is refused at load, by name.
    std::fs::write(
        &path,
        text.replacen("[store]\n", "[store]\naudit_retention = \"forever\"\n", 1),
    )
    .unwrap();
    let refused = served.run(&["audit"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("audit_retention"),
        "{}",
        refused.stderr
    );
}
