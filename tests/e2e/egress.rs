//! The host's pooled egress, seen from the fake STS: which connection every
//! request came on.

use crate::faults::set_up;
use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

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
    // Sequential grants: one connection, or two if a checkout raced a return.
    let used = connections(&requests);
    assert!(used.len() <= 2, "30 requests on {} connections", used.len());
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
