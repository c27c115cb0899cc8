//! Faults moto cannot produce, from the programmable fake STS and sign-in
//! endpoint: retries, timeouts, bad bodies, sign-in failures.

use crate::support::*;
use serde_json::{Value, json};

pub const RESOURCE_ROLE: &str = "arn:aws:iam::123456789012:role/PamResourceRole";
pub const TARGET_ROLE: &str = "arn:aws:iam::123456789012:role/PamTarget";

/// A fake with one resource and account set up, and its `pam-aws`.
pub fn set_up(extra: &str) -> (FakeAws, Pam) {
    let fake = FakeAws::start();
    let pam = fake.pam(extra);
    create_resource_and_account(&pam);
    (fake, pam)
}

/// Resource `f` and its account `a`, through `pam`'s endpoints.
pub fn create_resource_and_account(pam: &Pam) {
    pam.json(&[
        "resource",
        "create",
        "--name",
        "f",
        "--role-arn",
        RESOURCE_ROLE,
    ]);
    create_account(pam, "f");
}

fn create_account(pam: &Pam, resource: &str) {
    pam.json(&[
        "account",
        "create",
        "--resource",
        resource,
        "--name",
        "a",
        "--role-arn",
        TARGET_ROLE,
        "--duration",
        "15m",
    ]);
}

fn sts_error(code: &str, request_id: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>scripted</Message></Error>\
         <RequestId>{request_id}</RequestId></ErrorResponse>"
    )
}

/// `access` that must fail: its exit code, error and last audit event.
fn failed_access(pam: &Pam, code: i32) -> (Value, Value) {
    let run = pam.run(&["access", "f/a", "--user", ALICE, "--json"]);
    assert_eq!(run.code, code, "{}", run.stderr);
    let error = run.json()["error"].clone();
    assert_eq!(
        pam.json(&["sessions"]),
        json!([]),
        "no session for a failed access"
    );
    let event = pam.json(&["audit", "--limit", "1"])[0].clone();
    (error, event)
}

#[test]
fn throttling_and_server_errors_are_retried_until_success() {
    let (fake, pam) = set_up("");
    fake.script(
        "sts",
        json!([
            {"status": 400, "body": sts_error("Throttling", "req-throttled")},
            {"status": 503, "body": "<html>Service Unavailable</html>"},
        ]),
    );
    let before = fake.requests("sts").len();
    let grant = pam.json(&["access", "f/a", "--user", ALICE]);
    assert_eq!(grant["session"]["status"], "active");
    assert_eq!(
        fake.requests("sts").len() - before,
        4,
        "2 failures, then both hops"
    );
    let event = &pam.json(&["audit", "--limit", "1"])[0];
    assert_eq!(event["action"], "access.grant");
    assert_eq!(event["request_ids"][0], "req-throttled");
    // Every attempt was signed afresh and carried the external id.
    for request in &fake.requests("sts")[before..] {
        assert_eq!(request["params"]["ExternalId"], EXTERNAL_ID);
        assert!(
            request["headers"]["authorization"]
                .as_str()
                .unwrap()
                .starts_with("AWS4-HMAC-SHA256")
        );
    }
}

#[test]
fn repeated_server_errors_fail_with_exit_5_and_an_audited_failure() {
    let (fake, pam) = set_up("");
    let error = sts_error("InternalFailure", "req-500");
    fake.script("sts", json!([{"status": 500, "body": error}, {"status": 500, "body": error}, {"status": 500, "body": error}]));
    let (error, event) = failed_access(&pam, 5);
    assert_eq!(
        (error["hop"].as_str(), error["status"].as_u64()),
        (Some("resource-role"), Some(500))
    );
    assert_eq!(
        (event["action"].as_str(), event["outcome"].as_str()),
        (Some("access.fail"), Some("failure"))
    );
    assert_eq!(
        event["request_ids"],
        json!(["req-500", "req-500", "req-500"])
    );
}

#[test]
fn slow_answers_time_out() {
    let (fake, pam) = set_up("max_attempts = 1\n[egress]\nresponse_timeout = \"1s\"\n");
    fake.script("sts", json!([{"delay": 3}]));
    let (error, event) = failed_access(&pam, 5);
    assert_eq!(error["kind"], "timeout");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("timeout"),
        "{error}"
    );
    assert_eq!(event["action"], "access.fail");
}

#[test]
fn the_whole_access_is_bounded_by_the_access_timeout() {
    let (fake, pam) =
        set_up("access_timeout = \"2s\"\nmax_attempts = 10\n[egress]\nresponse_timeout = \"1s\"\n");
    fake.script(
        "sts",
        json!([{"delay": 3}, {"delay": 3}, {"delay": 3}, {"delay": 3}]),
    );
    let before = fake.requests("sts").len();
    let (error, _) = failed_access(&pam, 5);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("access-timeout"),
        "{error}"
    );
    assert!(
        fake.requests("sts").len() - before < 4,
        "stopped well before 10 attempts"
    );
}

#[test]
fn region_disabled_names_the_region_to_activate() {
    let (fake, pam) = set_up("max_attempts = 1\n");
    fake.script(
        "sts",
        json!([{"status": 403, "body": sts_error("RegionDisabledException", "req-r")}]),
    );
    let (error, event) = failed_access(&pam, 4);
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("STS is not activated in us-east-1"),
        "{error}"
    );
    assert_eq!(event["action"], "access.deny");
}

#[test]
fn malformed_truncated_and_oversized_answers_are_upstream_errors() {
    let (fake, pam) = set_up("max_attempts = 1\n");
    let cases = [
        json!({"status": 200, "body": "<AssumeRoleResponse><AssumeRoleResult><Credentials>"}),
        json!({"status": 200, "body": "this is not XML"}),
        json!({"status": 200, "size": 2_000_000}),
    ];
    for (case, expected) in cases
        .into_iter()
        .zip(["malformed", "malformed", "larger than"])
    {
        fake.script("sts", json!([case]));
        let (error, _) = failed_access(&pam, 5);
        assert_eq!(error["kind"], "upstream");
        assert!(
            error["message"].as_str().unwrap().contains(expected),
            "{error}"
        );
    }
}

#[test]
fn sign_in_failures_are_reported() {
    let (fake, pam) = set_up("");
    fake.script(
        "signin",
        json!([{"status": 400, "body": "Invalid Credentials Parameter"}]),
    );
    let (error, event) = failed_access(&pam, 4);
    assert_eq!(
        (error["hop"].as_str(), error["status"].as_u64()),
        (Some("signin-token"), Some(400))
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Invalid Credentials")
    );
    assert_eq!(event["action"], "access.deny");

    fake.script("signin", json!([{"status": 500, "body": "oops"}, {"status": 500, "body": "oops"}, {"status": 500, "body": "oops"}]));
    assert_eq!(failed_access(&pam, 5).0["status"], 500);

    for body in ["<html>not json</html>", "{}"] {
        fake.script("signin", json!([{"status": 200, "body": body}]));
        let (error, _) = failed_access(&pam, 5);
        assert_eq!(error["kind"], "upstream", "{body}");
    }
    // No sign-in request ever carried SessionDuration.
    assert!(
        fake.requests("signin")
            .iter()
            .all(|r| r["params"].get("SessionDuration").is_none())
    );
}

#[test]
fn source_identity_is_set_on_hop_1_when_the_resource_asks() {
    let fake = FakeAws::start();
    let pam = fake.pam("");
    let resource = pam.json(&[
        "resource",
        "create",
        "--name",
        "si",
        "--role-arn",
        RESOURCE_ROLE,
        "--source-identity",
    ]);
    assert_eq!(resource["source_identity"], true);
    assert_eq!(
        fake.requests("sts")[0]["params"]["SourceIdentity"],
        "pam-aws-validation"
    );
    create_account(&pam, "si");
    let before = fake.requests("sts").len();
    let grant = pam.json(&["access", "si/a", "--user", ALICE]);
    assert_eq!(grant["session"]["source_identity"], ALICE);
    let sent = fake.requests("sts");
    assert_eq!(sent[before]["params"]["SourceIdentity"], ALICE, "hop 1");
    assert!(
        sent[before + 1]["params"].get("SourceIdentity").is_none(),
        "hop 2 inherits it"
    );

    // Without the option nothing is sent.
    pam.json(&[
        "resource",
        "create",
        "--name",
        "plain",
        "--role-arn",
        RESOURCE_ROLE,
    ]);
    assert!(
        fake.requests("sts").last().unwrap()["params"]
            .get("SourceIdentity")
            .is_none()
    );
}

/// `pam-aws serve` bounds every request by `[server] request_timeout`: a
/// stalled STS answer becomes a JSON 504 and the server keeps serving.
#[test]
fn the_server_answers_504_when_a_request_outlives_its_deadline() {
    let auth = jwt_auth_config();
    let (fake, pam) = set_up(&format!(
        "max_attempts = 1\n[server]\nrequest_timeout = \"1s\"\n{auth}"
    ));
    let server = pam.serve();
    fake.script("sts", json!([{"delay": 4}]));
    let admin = token(ALICE, &["pam-admins"], 300);
    let access = format!("{}/v1/resources/f/accounts/a/access", server.url);
    let started = std::time::Instant::now();
    let answer = request("POST", &access, Some(&admin), None);
    assert_eq!(answer.status, 504, "{}", answer.body);
    assert_eq!(answer.body["error"]["kind"], "timeout");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let health = request("GET", &format!("{}/healthz", server.url), None, None);
    assert_eq!(health.status, 200);
}
