//! End to end: the embedded component, run by the `pam-aws` CLI, against
//! moto (IAM auth on: signatures, policies, trust and ExternalId checked)
//! and the fake sign-in endpoint.

// A test harness: a failed step is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod catalogue;
mod console;
mod egress;
mod embedding;
mod faults;
mod gateway;
mod hardening;
mod release;
mod shapes;
mod spin;
mod spin_host;
mod store;
mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::*;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .into_owned()
        .collect()
}

fn time_of(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a time"), &Rfc3339).expect("RFC 3339")
}

/// moto's AssumeRole records for `role` with `session`.
fn assumed(role: &str, session: &str) -> Vec<Value> {
    moto_assumed_roles()
        .into_iter()
        .filter(|r| r["role_arn"] == role && r["session_name"] == session)
        .collect()
}

#[test]
fn access_runs_both_hops_and_returns_a_console_url() {
    let w = world();
    let pam = Pam::new();
    let resource = pam.create_resource("prod");
    assert_eq!(resource["aws_account_id"], ACCOUNT);
    assert_eq!(resource["partition"], "aws");
    assert_eq!(resource["external_id"], EXTERNAL_ID);
    let account = pam.create_account("prod", "admin", "30m");
    assert_eq!(account["session_duration"], "30m");
    assert_eq!(account["session_duration_seconds"], 1800);

    let grant = pam.json(&["access", "prod/admin", "--user", ALICE]);

    // Both hops carried the external id; hop 2 the user's session name.
    let hop1 = assumed(&w.resource_role, ALICE);
    let hop2 = assumed(&w.target_role, ALICE);
    assert_eq!((hop1.len(), hop2.len()), (1, 1), "one AssumeRole per hop");
    assert_eq!(hop1[0]["external_id"], EXTERNAL_ID);
    assert_eq!(hop2[0]["external_id"], EXTERNAL_ID);
    assert_eq!(hop2[0]["session_name"], ALICE);

    // getSigninToken got hop 2's credentials and no SessionDuration.
    let hop2_key = hop2[0]["access_key_id"].as_str().expect("key id");
    let token_request = signin_requests()
        .into_iter()
        .rev()
        .find(|r| {
            r["query"]["Session"]
                .as_str()
                .is_some_and(|s| s.contains(hop2_key))
        })
        .expect("a getSigninToken request with hop 2's key");
    assert_eq!(token_request["query"]["Action"], "getSigninToken");
    assert!(token_request["query"].get("SessionDuration").is_none());
    let session_json: Value =
        serde_json::from_str(token_request["query"]["Session"].as_str().unwrap()).unwrap();
    assert_eq!(session_json["sessionKey"], hop2[0]["secret_access_key"]);
    assert_eq!(session_json["sessionToken"], hop2[0]["session_token"]);

    // The login URL's parts.
    let url = grant["url"].as_str().expect("url");
    assert!(url.starts_with(&format!("{}?", w.signin)), "{url}");
    let params = query(url);
    assert_eq!(params["Action"], "login");
    assert_eq!(params["Issuer"], "https://pam.example.test/");
    assert_eq!(
        params["Destination"],
        "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1"
    );
    assert_eq!(params["SigninToken"], format!("token-for-{hop2_key}"));

    // The session record: who, what, and a lifetime of the account's duration.
    let session = &grant["session"];
    assert_eq!(session["user"], ALICE);
    assert_eq!(session["resource"], "prod");
    assert_eq!(session["account"], "admin");
    assert_eq!(session["role_arn"], w.target_role);
    assert_eq!(
        session["assumed_role_arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/PamTargetRole/{ALICE}")
    );
    assert_eq!(session["assumed_role_id"], hop2[0]["user_id"]);
    assert_eq!(session["role_session_name"], ALICE);
    assert_eq!(session["status"], "active");
    let lifetime = time_of(&session["expires_at"]) - time_of(&session["created_at"]);
    assert!(
        (1795..=1805).contains(&lifetime.whole_seconds()),
        "DurationSeconds 1800 sent: {lifetime}"
    );

    let sessions = pam.json(&["sessions", "--active", "--user", ALICE]);
    assert_eq!(sessions.as_array().map(Vec::len), Some(1));
    assert_eq!(sessions[0]["id"], session["id"]);
    assert_eq!(
        pam.json(&["sessions", "--user", BOB])
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    // Audit: creations and the grant, newest first, with STS request ids.
    let audit = pam.json(&["audit"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["access.grant", "account.create", "resource.create"]
    );
    let grant_event = &audit[0];
    assert_eq!(grant_event["outcome"], "success");
    assert_eq!(grant_event["actor"], ALICE);
    assert_eq!(grant_event["session"], session["id"]);
    assert_eq!(
        grant_event["request_ids"].as_array().map(Vec::len),
        Some(2),
        "one per hop"
    );

    // No secret reached the store: base keys, both hops' credentials, the token.
    let stored = pam.store_bytes();
    assert!(!stored.is_empty());
    let mut secrets = vec![w.secret_access_key.clone(), format!("token-for-{hop2_key}")];
    for hop in hop1.iter().chain(&hop2) {
        secrets.push(hop["secret_access_key"].as_str().unwrap().to_string());
        secrets.push(hop["session_token"].as_str().unwrap().to_string());
    }
    for secret in &secrets {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret was written to the store"
        );
    }
}

#[test]
fn human_output_prints_the_url_and_tables() {
    let pam = Pam::new();
    pam.create_resource("tables");
    pam.create_account("tables", "ro", "15m");
    let run = pam.run(&["access", "tables/ro", "--user", BOB]).ok();
    assert!(
        run.stdout.trim().starts_with(&world().signin),
        "only the URL on stdout: {}",
        run.stdout
    );
    assert!(run.stderr.contains("session "), "{}", run.stderr);
    let listing = pam.run(&["account", "list"]).ok().stdout;
    assert!(
        listing.contains("tables/ro") && listing.contains("15m"),
        "{listing}"
    );
    let sessions = pam.run(&["sessions"]).ok().stdout;
    assert!(
        sessions.contains(BOB) && sessions.contains("active"),
        "{sessions}"
    );
}

#[test]
fn long_emails_get_a_valid_distinct_session_name() {
    let pam = Pam::new();
    pam.create_resource("long");
    pam.create_account("long", "admin", "1h");
    let grant = pam.json(&["access", "long/admin", "--user", LONG_EMAIL]);
    let name = grant["session"]["role_session_name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        name.len() <= 64 && name.starts_with("firstname.middlename"),
        "{name}"
    );
    assert_ne!(name, LONG_EMAIL);
    let hop2 = assumed(&world().target_role, &name);
    assert!(!hop2.is_empty(), "moto saw session name {name}");
}

#[test]
fn a_wrong_external_id_is_refused_by_the_trust_policy() {
    let pam = Pam::new();
    let run = pam.run(&[
        "resource",
        "create",
        "--name",
        "wrong",
        "--role-arn",
        &world().resource_role,
        "--external-id",
        "not-the-project",
        "--json",
    ]);
    assert_eq!(run.code, 4, "denied by AWS: {}", run.stderr);
    let error = &run.json()["error"];
    assert_eq!(error["kind"], "aws");
    assert_eq!(error["hop"], "resource-role");
    assert_eq!(error["code"], "AccessDenied");
    assert!(error["hint"].as_str().unwrap().contains("ExternalId"));
    assert!(
        run.stderr
            .contains("hop 1 (Resource Role) failed: AWS AccessDenied"),
        "{}",
        run.stderr
    );
    // What moto actually received: the wrong id, which it refused.
    assert!(
        moto_assumed_roles()
            .iter()
            .all(|r| r["external_id"] != "not-the-project")
    );
    assert_eq!(
        pam.json(&["resource", "list"]),
        serde_json::json!([]),
        "nothing stored"
    );
    let audit = pam.json(&["audit"]);
    assert_eq!(audit[0]["action"], "resource.create");
    assert_eq!(audit[0]["outcome"], "denied");
}

#[test]
fn a_target_role_the_resource_role_may_not_assume_is_refused() {
    let pam = Pam::new();
    pam.create_resource("other");
    let run = pam.run(&[
        "account",
        "create",
        "--resource",
        "other",
        "--name",
        "nope",
        "--role-arn",
        &world().other_role,
        "--duration",
        "30m",
        "--json",
    ]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let error = &run.json()["error"];
    assert_eq!(
        (error["hop"].as_str(), error["code"].as_str()),
        (Some("target-role"), Some("AccessDenied"))
    );
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("permission policy allows sts:AssumeRole")
    );
    assert_eq!(
        pam.json(&["account", "list"]),
        serde_json::json!([]),
        "nothing stored"
    );
}

#[test]
fn bad_base_credentials_are_refused() {
    let mut pam = Pam::new();
    pam.set_env("AWS_SECRET_ACCESS_KEY", "definitely-not-the-secret");
    let run = pam.run(&[
        "resource",
        "create",
        "--name",
        "badsig",
        "--role-arn",
        &world().resource_role,
        "--json",
    ]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.json()["error"]["code"], "SignatureDoesNotMatch");
    assert!(
        !run.stderr.contains("definitely-not-the-secret"),
        "no secret in messages"
    );

    pam.set_env("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000");
    let run = pam.run(&[
        "resource",
        "create",
        "--name",
        "badkey",
        "--role-arn",
        &world().resource_role,
        "--json",
    ]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.json()["error"]["code"], "InvalidClientTokenId");
    assert_eq!(pam.json(&["resource", "list"]), serde_json::json!([]));
}

#[test]
fn invalid_input_names_the_field_and_changes_nothing() {
    let pam = Pam::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "resource",
                "create",
                "--name",
                "r",
                "--role-arn",
                "arn:aws:iam::123:role/R",
            ],
            "role-arn",
        ),
        (
            &[
                "resource",
                "create",
                "--name",
                "bad/name",
                "--role-arn",
                &world().resource_role,
            ],
            "name",
        ),
        (
            &[
                "resource",
                "create",
                "--name",
                "r",
                "--role-arn",
                &world().resource_role,
                "--external-id",
                "a b",
            ],
            "external-id",
        ),
        (&["access", "prod", "--user", ALICE], "target"),
        (&["access", "prod/admin", "--user", "not-an-email"], "user"),
    ];
    for (args, field) in cases {
        let mut all = args.to_vec();
        all.push("--json");
        let run = pam.run(&all);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.json()["error"]["field"], *field, "{args:?}");
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "one line on stderr: {}",
            run.stderr
        );
    }
    pam.create_resource("valid");
    let run = pam.run(&[
        "account",
        "create",
        "--resource",
        "valid",
        "--name",
        "long",
        "--role-arn",
        &world().target_role,
        "--duration",
        "2h",
        "--json",
    ]);
    assert_eq!(run.code, 2);
    let error = &run.json()["error"];
    assert_eq!(error["field"], "duration");
    assert!(
        error["message"].as_str().unwrap().contains("role chaining"),
        "{error}"
    );

    let missing = pam.run(&["access", "valid/nothing", "--user", ALICE, "--json"]);
    assert_eq!(missing.code, 3, "not found: {}", missing.stderr);
    assert_eq!(missing.json()["error"]["kind"], "not_found");

    assert_eq!(pam.json(&["account", "list"]), serde_json::json!([]));
    let audit = pam.json(&["audit"]);
    assert_eq!(
        audit.as_array().map(Vec::len),
        Some(1),
        "only the valid resource.create: {audit}"
    );
}

#[test]
fn unreachable_sts_is_an_upstream_failure() {
    let pam = Pam::with_config("");
    pam.create_resource("net");
    pam.create_account("net", "admin", "30m");
    // Same config but STS on a port nothing listens on (and allowed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config_path = pam.dir.path().join("pam-aws.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let config = config.replace(&world().moto, &format!("http://127.0.0.1:{port}"));
    std::fs::write(&config_path, config).unwrap();
    let run = pam.run(&["access", "net/admin", "--user", ALICE, "--json"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert_eq!(run.json()["error"]["kind"], "upstream");
    let audit = pam.json(&["audit", "--limit", "1"]);
    assert_eq!(audit[0]["action"], "access.fail");
    assert_eq!(audit[0]["outcome"], "failure");
    assert_eq!(
        pam.json(&["sessions"]),
        serde_json::json!([]),
        "no session for a failed access"
    );
}

#[test]
fn the_embedded_component_can_be_written_and_run() {
    let pam = Pam::new();
    let out = pam.dir.path().join("plugin.wasm");
    pam.run(&["component", "--out", out.to_str().unwrap()]).ok();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..4], b"\0asm");
    assert_eq!(
        &bytes[4..8],
        &[0x0d, 0x00, 0x01, 0x00],
        "a component, not a core module"
    );
    let listed = pam.json(&["--plugin", out.to_str().unwrap(), "resource", "list"]);
    assert_eq!(listed, serde_json::json!([]));
}

#[test]
fn the_sandbox_refuses_hosts_outside_the_egress_allow_list() {
    use pam_aws_host::bindings::types::{AccessRequest, Error};
    use pam_aws_host::host::{Calls, Host};
    use pam_aws_host::kv::Commits;
    use pam_aws_host::runtime::Runtime;
    use pam_aws_host::{config::Config, egress::Egress};

    let pam = Pam::new();
    pam.create_resource("sandbox");
    pam.create_account("sandbox", "admin", "30m");
    // The same store and configuration, but moto's STS is not on the list.
    let config = Config::load(Some(&pam.dir.path().join("pam-aws.toml"))).unwrap();
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let result = tokio.block_on(async {
        // Base credentials as the operator's environment would give them.
        let mut host = Host::open(&config, Calls::StoreOnly, Commits::EachWrite)
            .await
            .unwrap();
        host.vars.extend([
            ("aws-access-key-id".into(), world().access_key_id.clone()),
            (
                "aws-secret-access-key".into(),
                world().secret_access_key.clone(),
            ),
        ]);
        host.egress = Egress::new(
            vec!["sts.us-east-1.amazonaws.com".into()],
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let runtime = Runtime::new(pam_aws_host::PLUGIN_WASM).unwrap();
        let (mut store, plugin) = runtime
            .instantiate(host.call(&host.egress).await)
            .await
            .unwrap();
        let request = AccessRequest {
            resource: "sandbox".into(),
            account: "admin".into(),
            user: ALICE.into(),
            region: None,
            service: None,
        };
        plugin
            .pam_aws_console_broker()
            .call_access(&mut store, &request)
            .await
            .unwrap()
    });
    match result {
        Err(Error::Upstream(message)) => {
            assert!(message.contains("egress policy"), "{message}")
        }
        other => panic!("expected the request to be denied, got {other:?}"),
    }
    let audit = pam.json(&["audit", "--limit", "1"]);
    assert_eq!(audit[0]["action"], "access.fail");
}

#[test]
fn compiled_code_is_cached_between_calls() {
    let cache = tempfile::tempdir().unwrap();
    let mut pam = Pam::new();
    pam.set_env("PAM_AWS_CACHE_DIR", cache.path().to_str().unwrap());
    pam.run(&["resource", "list"]).ok();
    let cached: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert_eq!(
        cached[0].extension().and_then(|e| e.to_str()),
        Some("cwasm")
    );
    let modified = std::fs::metadata(&cached[0]).unwrap().modified().unwrap();
    pam.run(&["resource", "list"]).ok();
    assert_eq!(
        std::fs::metadata(&cached[0]).unwrap().modified().unwrap(),
        modified,
        "reused, not rewritten"
    );
}

#[test]
fn resources_with_accounts_cannot_be_deleted_and_deletes_are_audited() {
    let pam = Pam::new();
    pam.create_resource("gone");
    pam.create_account("gone", "admin", "15m");
    let refused = pam.run(&["resource", "delete", "gone", "--json"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert_eq!(refused.json()["error"]["kind"], "conflict");
    assert_eq!(
        pam.json(&["account", "show", "gone/admin"])["role_arn"],
        world().target_role
    );

    pam.run(&["account", "delete", "gone/admin"]).ok();
    pam.run(&["resource", "delete", "gone"]).ok();
    assert_eq!(pam.run(&["resource", "show", "gone"]).code, 3);
    assert_eq!(pam.run(&["account", "show", "gone/admin"]).code, 3);
    let audit = pam.json(&["audit", "--limit", "2"]);
    assert_eq!(audit[0]["action"], "resource.delete");
    assert_eq!(audit[1]["action"], "account.delete");
    assert_eq!(
        audit[1]["actor"].as_str().map(|a| a.starts_with("cli:")),
        Some(true)
    );
}

#[test]
fn the_console_opens_where_the_account_or_the_request_says() {
    let pam = Pam::new();
    pam.create_resource("pages");
    let account = pam.json(&[
        "account",
        "create",
        "--resource",
        "pages",
        "--name",
        "s3",
        "--role-arn",
        &world().target_role,
        "--duration",
        "15m",
        "--region",
        "eu-central-1",
        "--service",
        "s3",
    ]);
    assert_eq!(account["service"], "s3");
    let destination = |args: &[&str]| {
        let mut all = vec!["access", "pages/s3", "--user", ALICE];
        all.extend_from_slice(args);
        query(pam.json(&all)["url"].as_str().unwrap())["Destination"].clone()
    };
    assert_eq!(
        destination(&[]),
        "https://eu-central-1.console.aws.amazon.com/s3/home?region=eu-central-1"
    );
    assert_eq!(
        destination(&["--region", "us-west-2", "--service", "ec2"]),
        "https://us-west-2.console.aws.amazon.com/ec2/home?region=us-west-2"
    );
    assert_eq!(
        destination(&["--service", "iam"]),
        "https://console.aws.amazon.com/iam/home"
    );
    assert_eq!(
        destination(&["--path", "/cloudwatch/home#alarms"]),
        "https://eu-central-1.console.aws.amazon.com/cloudwatch/home#alarms"
    );
    let refused = pam.run(&[
        "access",
        "pages/s3",
        "--user",
        ALICE,
        "--region",
        "cn-north-1",
        "--json",
    ]);
    assert_eq!(refused.code, 2);
    assert_eq!(refused.json()["error"]["field"], "region");
}

#[test]
fn the_aws_cli_gets_the_target_role_through_credential_process() {
    let w = world();
    let pam = Pam::with_config(&format!(
        "access_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
        w.access_key_id, w.secret_access_key
    ));
    pam.create_resource("cli");
    pam.create_account("cli", "ops", "15m");
    let config = pam.dir.path().join("pam-aws.toml");
    let aws_config = pam.dir.path().join("aws-cli-config");
    std::fs::write(
        &aws_config,
        format!(
            "[profile pam]\nregion = us-east-1\ncredential_process = {} --config {} credential-process cli/ops --user {ALICE}\n",
            env!("CARGO_BIN_EXE_pam-aws"),
            config.display()
        ),
    )
    .unwrap();
    let output = std::process::Command::new(root().join(".venv/bin/aws"))
        .args([
            "sts",
            "get-caller-identity",
            "--profile",
            "pam",
            "--output",
            "json",
            "--endpoint-url",
            &w.moto,
        ])
        .env("AWS_CONFIG_FILE", &aws_config)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            pam.dir.path().join("aws-credentials"),
        )
        .env("PAM_AWS_CACHE_DIR", root().join("target/pam-aws-cache"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("running the AWS CLI");
    assert!(
        output.status.success(),
        "aws: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let identity: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        identity["Arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/PamTargetRole/{ALICE}")
    );

    // (AWS CLI v1 may run the process more than once per command.)
    let sessions = pam.json(&["sessions", "--user", ALICE]);
    assert!(
        !sessions.as_array().unwrap().is_empty(),
        "recorded as sessions"
    );
    let audit = pam.json(&["audit", "--limit", "1"]);
    assert_eq!(audit[0]["action"], "credentials.grant");
    // The credentials went to the AWS CLI only.
    let hop2 = assumed(&w.target_role, ALICE);
    let secret = hop2.last().unwrap()["secret_access_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !pam.store_bytes()
            .windows(secret.len())
            .any(|w| w == secret.as_bytes())
    );
}

#[test]
fn credential_process_prints_the_aws_cli_format() {
    let pam = Pam::new();
    pam.create_resource("fmt");
    pam.create_account("fmt", "ops", "15m");
    let printed: Value = serde_json::from_str(
        &pam.run(&["credential-process", "fmt/ops", "--user", BOB])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(printed["Version"], 1);
    for key in ["AccessKeyId", "SecretAccessKey", "SessionToken"] {
        assert!(
            printed[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key}"
        );
    }
    let expires = time_of(&printed["Expiration"]) - OffsetDateTime::now_utc();
    assert!(
        (800..=905).contains(&expires.whole_seconds()),
        "15 minutes: {expires}"
    );
    let missing = pam.run(&["credential-process", "fmt/none", "--user", BOB]);
    assert_eq!(missing.code, 3);
    assert!(
        missing.stdout.is_empty(),
        "nothing the AWS CLI could mistake for credentials"
    );
}

/// The newest deny for `user_id` (other tests revoke the same users' sessions on this role).
fn statement_for<'a>(statements: &'a [Value], user_id: &Value) -> Option<&'a Value> {
    statements
        .iter()
        .filter(|s| &s["Condition"]["StringLike"]["aws:userid"] == user_id)
        .max_by_key(|s| time_of(&s["Condition"]["DateLessThan"]["aws:TokenIssueTime"]))
}

#[test]
fn revocation_denies_the_session_through_an_inline_policy_and_prunes() {
    let w = world();
    let pam = Pam::with_config(&format!("iam_endpoint = \"{}\"\n", w.moto));
    pam.create_resource("rev");
    pam.create_account("rev", "admin", "15m");

    // Seed an expired revocation of ours: the next revocation prunes it.
    let stale = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "PamRevoke", "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"StringLike": {"aws:userid": "AROAOLD:gone@example.com"},
                      "DateLessThan": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}}}]});
    aws_as_auditor(&[
        "iam",
        "put-role-policy",
        "--role-name",
        "PamTargetRole",
        "--policy-name",
        "PamAwsRevoke-20200101T010000Z-stale",
        "--policy-document",
        &stale.to_string(),
    ]);

    let session = pam.json(&["access", "rev/admin", "--user", ALICE])["session"].clone();
    let id = session["id"].as_str().unwrap();
    let revoked = pam.json(&["revoke", id]);
    assert_eq!(revoked[0]["id"], session["id"]);
    assert_eq!(revoked[0]["status"], "revoked");

    let statements = revocation_statements();
    let alice = statement_for(&statements, &session["assumed_role_id"])
        .expect("a statement for the session's aws:userid");
    assert_eq!(alice["Effect"], "Deny");
    assert_eq!(alice["Action"], "*");
    let issued_before = time_of(&alice["Condition"]["DateLessThan"]["aws:TokenIssueTime"]);
    assert!(
        issued_before >= time_of(&session["created_at"]),
        "covers the session's token"
    );
    assert!(
        statement_for(&statements, &json!("AROAOLD:gone@example.com")).is_none(),
        "the expired revocation was pruned"
    );
    assert!(!target_role_policies().contains(&"PamAwsRevoke-20200101T010000Z-stale".to_string()));

    // The session reads revoked, is not active, and cannot be revoked twice.
    let listed = pam.json(&["sessions", "--user", ALICE]);
    assert_eq!(listed[0]["status"], "revoked");
    assert_eq!(
        pam.json(&["sessions", "--active", "--user", ALICE]),
        json!([])
    );
    let again = pam.run(&["revoke", id, "--json"]);
    assert_eq!(again.code, 1);
    assert_eq!(again.json()["error"]["kind"], "conflict");

    // All of Bob's sessions on the account at once; Alice's statement stays.
    pam.json(&["access", "rev/admin", "--user", BOB]);
    pam.json(&["access", "rev/admin", "--user", BOB]);
    let bobs = pam.json(&["revoke", "--user", BOB, "--account", "rev/admin"]);
    assert_eq!(bobs.as_array().map(Vec::len), Some(2));
    let statements = revocation_statements();
    assert!(
        statement_for(&statements, &session["assumed_role_id"]).is_some(),
        "kept beside the new one"
    );
    assert!(statement_for(&statements, &bobs[0]["assumed_role_id"]).is_some());

    let audit = pam.json(&["audit", "--limit", "1"]);
    assert_eq!(audit[0]["action"], "session.revoke");
    assert_eq!(audit[0]["outcome"], "success");
    let none = pam.run(&["revoke", "--user", BOB, "--account", "rev/admin", "--json"]);
    assert_eq!(none.code, 3, "no active sessions left: {}", none.stderr);
}

#[test]
fn other_partitions_sign_in_their_region_and_open_their_console() {
    let w = world();
    let cases = [
        (
            "aws-cn",
            "cn-north-1",
            "https://console.amazonaws.cn/ec2/home?region=cn-north-1",
        ),
        (
            "aws-us-gov",
            "us-gov-west-1",
            "https://console.amazonaws-us-gov.com/ec2/home?region=us-gov-west-1",
        ),
    ];
    for (partition, region, destination) in cases {
        let p = &w.partitions[partition];
        let text = |key: &str| p[key].as_str().unwrap().to_string();
        let env = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), text("access_key_id")),
            (
                "AWS_SECRET_ACCESS_KEY".to_string(),
                text("secret_access_key"),
            ),
        ];
        let pam = Pam::configured(&w.moto, &w.signin, region, "", env);
        let resource = pam.json(&[
            "resource",
            "create",
            "--name",
            "p",
            "--role-arn",
            &text("resource_role_arn"),
        ]);
        assert_eq!(resource["partition"], partition);
        pam.json(&[
            "account",
            "create",
            "--resource",
            "p",
            "--name",
            "ops",
            "--role-arn",
            &text("target_role_arn"),
            "--duration",
            "15m",
            "--region",
            region,
            "--service",
            "ec2",
        ]);
        let grant = pam.json(&["access", "p/ops", "--user", ALICE]);
        assert_eq!(
            query(grant["url"].as_str().unwrap())["Destination"],
            destination
        );
        assert!(
            grant["session"]["assumed_role_arn"]
                .as_str()
                .unwrap()
                .starts_with(&format!("arn:{partition}:sts::"))
        );
        // moto answered in that partition, for requests signed in that region.
        let hop2 = moto_assumed_roles()
            .into_iter()
            .filter(|r| r["role_arn"] == text("target_role_arn") && r["session_name"] == ALICE)
            .collect::<Vec<_>>();
        assert_eq!(hop2.len(), 1, "{partition}");
        assert_eq!(hop2[0]["partition"], partition);
        assert_eq!(hop2[0]["region_name"], region);
        // A region of another partition is refused for this account.
        let wrong = pam.run(&[
            "access",
            "p/ops",
            "--user",
            ALICE,
            "--region",
            "eu-west-1",
            "--json",
        ]);
        assert_eq!(wrong.code, 2, "{partition}");
    }
}

#[test]
fn the_flow_runs_on_a_shared_redis_store() {
    let redis = RedisServer::start();
    // The backend itself: buckets kept apart, keys sorted.
    let store = pam_aws_host::kv::open(&redis.url, std::path::Path::new(".")).unwrap();
    store.set("b", "resource/b", b"2").unwrap();
    store.set("b", "resource/a", b"1").unwrap();
    store.set("other", "resource/c", b"3").unwrap();
    assert_eq!(store.keys("b").unwrap(), ["resource/a", "resource/b"]);
    store.delete("b", "resource/a").unwrap();
    assert_eq!(store.get("b", "resource/a").unwrap(), None);
    assert_eq!(
        store.get("other", "resource/c").unwrap().as_deref(),
        Some(&b"3"[..])
    );

    let on_redis = |pam: &Pam| {
        let path = pam.dir.path().join("pam-aws.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("sqlite://pam.db", &redis.url)).unwrap();
    };
    let (operator, other) = (Pam::new(), Pam::new());
    on_redis(&operator);
    on_redis(&other);
    operator.create_resource("shared");
    operator.create_account("shared", "admin", "15m");
    // Another host on the same store sees the account and records the grant.
    let grant = other.json(&["access", "shared/admin", "--user", ALICE]);
    let sessions = operator.json(&["sessions"]);
    assert_eq!(sessions[0]["id"], grant["session"]["id"]);
    assert_eq!(
        operator.json(&["audit", "--limit", "1"])[0]["action"],
        "access.grant"
    );
    assert!(
        !operator.dir.path().join("pam.db").exists(),
        "nothing went to SQLite"
    );
}
