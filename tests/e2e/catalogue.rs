//! The bad-input catalogue: every case is refused with the contract's exit
//! code or HTTP status, a message naming the field and the rule, nothing
//! sent to AWS, nothing stored (beyond a denial's audit event), and no
//! secret anywhere. README lists the classes.

use crate::faults::set_up;
use crate::support::*;
use serde_json::{Value, json};

const ARN: &str = "arn:aws:iam::123456789012:role/PamTarget";
const GATEWAY_SECRET: &str = "catalogue-gateway-secret";

/// What the operator can see of the store: records and audit events.
fn snapshot(pam: &Pam) -> (Value, Value, Value, usize) {
    (
        pam.json(&["resource", "list"]),
        pam.json(&["account", "list"]),
        pam.json(&["sessions"]),
        pam.json(&["audit", "--limit", "1000"])
            .as_array()
            .map_or(0, Vec::len),
    )
}

/// `(arguments, exit code, text the error must hold)`.
fn cli_cases() -> Vec<(Vec<String>, i32, &'static str)> {
    let long = |n: usize| "a".repeat(n);
    let mut cases: Vec<(Vec<String>, i32, &'static str)> = Vec::new();
    let mut add = |args: &[&str], code: i32, says: &'static str| {
        cases.push((args.iter().map(|s| s.to_string()).collect(), code, says));
    };
    // Resource names.
    for name in [
        "-lead",
        ".dot",
        "a/b",
        "a b",
        "",
        "ünï",
        "a\u{1b}b",
        "a\u{202e}b",
        "x;rm",
        "a?b",
    ] {
        add(
            &["resource", "create", "--name", name, "--role-arn", ARN],
            2,
            "name",
        );
    }
    add(
        &["resource", "create", "--name", &long(64), "--role-arn", ARN],
        2,
        "name",
    );
    // Role ARNs.
    for arn in [
        "arn:aws:iam::12345678901:role/R",
        "arn:aws:iam::123456789012:user/R",
        "arn:aws:sts::123456789012:role/R",
        "arn:aws:iam:us-east-1:123456789012:role/R",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/a b",
        "arn:aws:iam::123456789012:role//R",
        "arn:aws-iso:iam::123456789012:role/R",
        "not an arn at all, really",
        "arn:aws:iam::1234567890ab:role/R",
        "short",
        "arn:aws:iam::123456789012:role/R\u{7}",
    ] {
        add(
            &["resource", "create", "--name", "ok", "--role-arn", arn],
            2,
            "role-arn",
        );
    }
    // External ids.
    let too_long = long(1225);
    for id in [
        "x",
        "has space",
        "a\u{1b}b",
        "ünï-id",
        "semi;colon",
        &too_long,
    ] {
        let args = ["resource", "create", "--name", "ok", "--role-arn", ARN];
        add(
            &[&args[..], &["--external-id", id]].concat(),
            2,
            "external-id",
        );
    }
    // Accounts: the base is valid, one field at a time is not.
    let account = |field: &str, value: &str| -> Vec<String> {
        let mut args: Vec<String> = [
            "account",
            "create",
            "--resource",
            "f",
            "--name",
            "ok",
            "--role-arn",
            ARN,
            "--duration",
            "30m",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match args.iter().position(|a| a == field) {
            Some(i) => args[i + 1] = value.to_string(),
            None => args.extend([field.to_string(), value.to_string()]),
        }
        args
    };
    let mut account_cases: Vec<(Vec<String>, i32, &'static str)> = Vec::new();
    let mut add_account = |field: &str, value: &str, code: i32, says: &'static str| {
        account_cases.push((account(field, value), code, says));
    };
    for name in ["-x", "a/b", "", "a b", "a\u{7}"] {
        add_account("--name", name, 2, "name");
    }
    for duration in [
        "14m", "61m", "2h", "12h", "soon", "", "-5m", "0s", "1h1s", "30",
    ] {
        add_account("--duration", duration, 2, "duration");
    }
    for region in [
        "us-east-+1",
        "useast1",
        "US-EAST-1",
        "us-east-01x",
        "us-east-123",
        "us-east-",
        "us-east-1a",
        "us east 1",
    ] {
        add_account("--region", region, 2, "region");
    }
    for description in [
        "bell\u{7}",
        "line\nbreak",
        "bidi\u{202e}",
        &"d".repeat(1025),
    ] {
        add_account("--description", description, 2, "description");
    }
    for allow in [
        "bob",
        "group:",
        "@nodot",
        "group:a/b",
        "@",
        "a@b..c",
        "a@-b.c",
        "x y@z.com",
    ] {
        add_account("--allow", allow, 2, "allow");
    }
    for role in ["arn:aws:iam::123456789012:role/", "arn:aws:iam::123:role/R"] {
        add_account("--role-arn", role, 2, "role-arn");
    }
    for service in ["S3", "s3/x", "//evil.example/", "/a b", "/<script>"] {
        add_account("--service", service, 2, "service");
    }
    add_account("--resource", "nowhere", 3, "nowhere");
    for case in account_cases {
        add(
            &case.0.iter().map(String::as_str).collect::<Vec<_>>(),
            case.1,
            case.2,
        );
    }
    // Access and credential_process: targets and users.
    for command in ["access", "credential-process"] {
        for target in ["f", "/a", "f/", "", "nowhere/a", "f/nowhere"] {
            let code = if target.contains("nowhere") { 3 } else { 2 };
            let says = if code == 3 { "not found" } else { "target" };
            add(&[command, target, "--user", ALICE], code, says);
        }
        for user in [
            "alice",
            "@example.com",
            "alice@",
            "al ice@example.com",
            "alice@example",
            "a@b..c",
            "a@-b.c",
            "a@b-.c",
            "a\u{202e}b@example.com",
            "a\u{1b}[31m@example.com",
        ] {
            add(&[command, "f/a", "--user", user], 2, "user");
        }
        add(
            &[
                command,
                "f/a",
                "--user",
                &format!("{}@example.com", long(250)),
            ],
            2,
            "user",
        );
    }
    for region in ["us-east-+1", "x"] {
        add(
            &["access", "f/a", "--user", ALICE, "--region", region],
            2,
            "region",
        );
    }
    add(
        &[
            "access",
            "f/a",
            "--user",
            ALICE,
            "--path",
            "//evil.example/",
        ],
        2,
        "service",
    );
    // Sessions, revocation, audit, show/delete.
    for user in ["bob", "a@b..c", "@x.com"] {
        add(&["sessions", "--user", user], 2, "user");
    }
    add(
        &["revoke", "0193aaaa-0000-7000-8000-000000000000"],
        3,
        "not found",
    );
    add(&["revoke", "--user", "bob", "--account", "f/a"], 2, "user");
    add(
        &["revoke", "--user", ALICE, "--account", "f/nowhere"],
        3,
        "not found",
    );
    for limit in ["0", "1001", "1.5", "abc", "99999999999"] {
        add(&["audit", "--limit", limit], 2, "limit");
    }
    for command in ["show", "delete"] {
        add(&["resource", command, "nowhere"], 3, "not found");
        add(&["account", command, "f/nowhere"], 3, "not found");
    }
    // Usage.
    add(&["resource", "frobnicate"], 2, "frobnicate");
    add(&["account", "create", "--resource", "f"], 2, "--name");
    add(&["access", "f/a"], 2, "--user");
    add(&["revoke"], 2, "SESSION");
    add(&["--no-such-flag", "sessions"], 2, "--no-such-flag");
    cases
}

#[test]
fn bad_cli_input_is_refused_and_changes_nothing() {
    let (fake, pam) = set_up("");
    let before = snapshot(&pam);
    let sent_before = fake.requests("sts").len() + fake.requests("signin").len();
    let cases = cli_cases();
    assert!(cases.len() >= 100, "{} CLI cases", cases.len());
    for (args, code, says) in &cases {
        let mut all = args.clone();
        all.push("--json".into());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let run = pam.run(&all);
        assert_eq!(run.code, *code, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(says),
            "{args:?}: the message must name {says:?}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?}: raw control characters in {:?}",
            run.stderr
        );
        if *code == 2 && !run.stdout.is_empty() {
            let error = run.json()["error"].clone();
            assert_eq!(error["kind"], "invalid_input", "{args:?}");
            assert!(
                error["field"]
                    .as_str()
                    .is_some_and(|f| says.contains(f) || f.contains(says)),
                "{args:?}: field {}",
                error["field"]
            );
        }
    }
    assert_eq!(snapshot(&pam), before, "nothing was stored");
    assert_eq!(
        fake.requests("sts").len() + fake.requests("signin").len(),
        sent_before,
        "nothing reached AWS"
    );
    let store = String::from_utf8_lossy(&pam.store_bytes()).to_string();
    for secret in ["fake-secret", "secret-ASIA", "token-ASIA"] {
        assert!(!store.contains(secret), "{secret} in the store");
    }
}

/// `(method, path, who, body, status, text the error must hold)`.
type HttpCase = (
    &'static str,
    String,
    Option<&'static str>,
    String,
    u16,
    &'static str,
);

fn http_cases() -> Vec<HttpCase> {
    let admin = Some("pam-admins");
    let user = Some("dev");
    let mut cases: Vec<HttpCase> = Vec::new();
    let resource = |name: &str, arn: &str| json!({"name": name, "role_arn": arn}).to_string();
    for name in ["-lead", "a/b", "a b", "", "ünï", "a\u{1b}b", "a\u{202e}b"] {
        cases.push((
            "POST",
            "/v1/resources".into(),
            admin,
            resource(name, ARN),
            400,
            "name",
        ));
    }
    for arn in [
        "arn:aws:iam::12345678901:role/R",
        "arn:aws:iam::123456789012:user/R",
        "arn:aws-iso:iam::123456789012:role/R",
        "nope",
        "arn:aws:iam::123456789012:role//R",
    ] {
        cases.push((
            "POST",
            "/v1/resources".into(),
            admin,
            resource("ok", arn),
            400,
            "role-arn",
        ));
    }
    let bodies = [
        ("not json", "body"),
        ("[1]", "body"),
        ("\"text\"", "body"),
        ("{\"name\":\"x\"}", "role_arn"),
        ("{\"name\":1,\"role_arn\":\"x\"}", "body"),
        (
            "{\"name\":\"x\",\"role_arn\":\"arn:aws:iam::123456789012:role/R\",\"colour\":\"red\"}",
            "colour",
        ),
        ("{", "body"),
    ];
    for (body, says) in bodies {
        cases.push((
            "POST",
            "/v1/resources".into(),
            admin,
            body.into(),
            400,
            says,
        ));
    }
    let account = |field: &str, value: Value| {
        let mut body = json!({"name": "ok", "role_arn": ARN, "duration": "30m"});
        body[field] = value;
        body.to_string()
    };
    let path = "/v1/resources/f/accounts".to_string();
    for (field, value, says) in [
        ("duration", json!("2h"), "duration"),
        ("duration", json!("14m"), "duration"),
        ("duration", json!("soon"), "duration"),
        ("region", json!("us-east-+1"), "region"),
        ("region", json!("useast1"), "region"),
        ("description", json!("x\u{7}"), "description"),
        ("description", json!("x\u{202e}"), "description"),
        ("allow", json!(["bob"]), "allow"),
        ("allow", json!(["a@b..c"]), "allow"),
        ("allow", json!("not-a-list"), "body"),
        ("name", json!("a/b"), "name"),
        ("name", json!(""), "name"),
        ("resource", json!("other"), "resource"),
        ("service", json!("//evil.example/"), "service"),
        ("role_arn", json!("arn:aws:iam::123:role/R"), "role-arn"),
    ] {
        cases.push((
            "POST",
            path.clone(),
            admin,
            account(field, value),
            400,
            says,
        ));
    }
    for (query, says) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("colour=red", "colour"),
    ] {
        cases.push((
            "GET",
            format!("/v1/audit?{query}"),
            admin,
            String::new(),
            400,
            says,
        ));
    }
    for (query, says) in [
        ("active=yes", "active"),
        ("user=bob", "user"),
        ("user=a@b..c", "user"),
        ("colour=red", "colour"),
    ] {
        cases.push((
            "GET",
            format!("/v1/sessions?{query}"),
            admin,
            String::new(),
            400,
            says,
        ));
    }
    for body in [
        json!({"region": "us-east-+1"}),
        json!({"region": "x"}),
        json!({"service": "S3"}),
        json!({"colour": "red"}),
    ] {
        cases.push((
            "POST",
            "/v1/resources/f/accounts/a/access".into(),
            admin,
            body.to_string(),
            400,
            "",
        ));
    }
    // Not found, and what a non-admin may not see answers alike.
    for (method, path) in [
        ("GET", "/v1/resources/nowhere"),
        ("GET", "/v1/resources/nowhere/accounts"),
        ("GET", "/v1/resources/f/accounts/nowhere"),
        ("DELETE", "/v1/resources/nowhere"),
        ("POST", "/v1/resources/f/accounts/nowhere/access"),
        (
            "POST",
            "/v1/sessions/0193aaaa-0000-7000-8000-000000000000/revoke",
        ),
        ("GET", "/v1/anything"),
        ("GET", "/v1/resources/f/accounts/a/b/c"),
    ] {
        cases.push((method, path.into(), admin, String::new(), 404, "no"));
    }
    for (method, path) in [
        ("GET", "/v1/resources/f"),
        ("GET", "/v1/resources/f/accounts"),
        ("GET", "/v1/resources/f/accounts/a"),
    ] {
        cases.push((method, path.into(), user, String::new(), 404, "not found"));
    }
    // Refused for non-admins: audited as denials, nothing changed.
    for (method, path, body) in [
        ("POST", "/v1/resources", resource("ok", ARN)),
        ("DELETE", "/v1/resources/f", String::new()),
        ("DELETE", "/v1/resources/f/accounts/a", String::new()),
        (
            "POST",
            "/v1/resources/f/accounts",
            account("name", json!("ok2")),
        ),
        ("POST", "/v1/resources/f/accounts/a/access", String::new()),
        ("GET", "/v1/audit", String::new()),
    ] {
        cases.push((method, path.into(), user, body, 403, "forbidden"));
    }
    cases.push((
        "GET",
        "/v1/sessions?user=root@example.com".into(),
        user,
        String::new(),
        403,
        "forbidden",
    ));
    // Methods, identity.
    for (method, path) in [
        ("PUT", "/v1/resources/f"),
        ("PATCH", "/v1/resources"),
        ("DELETE", "/v1/sessions"),
        ("GET", "/v1/sessions/x/revoke"),
    ] {
        cases.push((method, path.into(), admin, String::new(), 405, "takes"));
    }
    for path in ["/v1/resources", "/v1/sessions", "/v1/audit"] {
        cases.push((
            "GET",
            path.into(),
            None,
            String::new(),
            401,
            "x-pam-gateway-secret",
        ));
    }
    // Catalogue-wide: read-only catalog names, conflicts.
    cases.push((
        "POST",
        "/v1/resources".into(),
        admin,
        resource("f", ARN),
        409,
        "exists",
    ));
    cases
}

fn headers_for(who: Option<&str>) -> Vec<(String, String)> {
    match who {
        None => Vec::new(),
        Some(groups) => {
            let user = if groups == "pam-admins" {
                "root@example.com"
            } else {
                BOB
            };
            vec![
                ("x-pam-user".into(), user.into()),
                ("x-pam-groups".into(), groups.into()),
                ("x-pam-gateway-secret".into(), GATEWAY_SECRET.into()),
            ]
        }
    }
}

#[test]
fn bad_http_input_is_refused_and_changes_nothing() {
    let (fake, pam) = set_up(&format!(
        "\n[auth]\nmode = \"trusted-header\"\ntrusted_header_secret = \"{GATEWAY_SECRET}\"\n"
    ));
    let server = pam.serve();
    let before = snapshot(&pam);
    let sent_before = fake.requests("sts").len() + fake.requests("signin").len();
    let cases = http_cases();
    assert!(cases.len() >= 60, "{} HTTP cases", cases.len());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut denials = 0;
    for (method, path, who, body, status, says) in &cases {
        let mut builder = ureq::http::Request::builder()
            .method(*method)
            .uri(format!("{}{path}", server.url));
        for (name, value) in headers_for(*who) {
            builder = builder.header(name, value);
        }
        if !body.is_empty() {
            builder = builder.header("content-type", "application/json");
        }
        let response = agent
            .run(builder.body(body.clone()).unwrap())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let got = response.status().as_u16();
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut response.into_body().into_reader(), &mut text);
        assert_eq!(got, *status, "{method} {path} {body}: {text}");
        let answer: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        let field = answer["error"]["field"].as_str().unwrap_or_default();
        assert!(
            message.contains(says) || field.contains(says),
            "{method} {path} {body}: must name {says:?}: {text}"
        );
        if *status == 400 && answer["error"]["kind"] == "invalid_input" {
            assert!(!field.is_empty(), "{method} {path}: no field in {text}");
        }
        if *status == 403 {
            denials += 1;
        }
    }
    let after = snapshot(&pam);
    assert_eq!(
        (&after.0, &after.1, &after.2),
        (&before.0, &before.1, &before.2)
    );
    let new_events = pam.json(&["audit", "--limit", "1000"]);
    let new_events = &new_events.as_array().unwrap()[..after.3 - before.3];
    assert!(
        new_events.iter().all(|e| e["outcome"] == "denied"),
        "only denials are audited: {new_events:?}"
    );
    assert!(new_events.len() <= denials);
    assert_eq!(
        fake.requests("sts").len() + fake.requests("signin").len(),
        sent_before,
        "nothing reached AWS"
    );
}
