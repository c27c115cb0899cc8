//! The Spin adapter: `adapters/spin/build` composes it in front of the
//! component, and what comes out asks for Spin's interface versions only.

use crate::assumed;
use crate::embedding::assert_one_grant_reached_aws;
use crate::spin_host::{SpinApp, serve};
use crate::support::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::process::Command;

/// The composed component's imports and exports, by name.
fn interfaces(wasm: &std::path::Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::from_file(&engine, wasm).unwrap();
    let ty = component.component_type();
    let imports = ty.imports(&engine).map(|(name, _)| name.to_string());
    let exports = ty.exports(&engine).map(|(name, _)| name.to_string());
    (imports.collect(), exports.collect())
}

/// `adapters/spin/build` run on this build's `pam-aws`: the composed file.
fn compose(dir: &std::path::Path) -> std::path::PathBuf {
    let wasm = dir.join("pam-aws-console-spin.wasm");
    let mut build = Command::new(root().join("adapters/spin/build"));
    build
        .arg(&wasm)
        .env("PAM_AWS", env!("CARGO_BIN_EXE_pam-aws"));
    let printed = run_to_success(&mut build, "adapters/spin/build");
    assert!(printed.contains("wrote"), "{printed}");
    wasm
}

#[test]
fn the_spin_composition_imports_spins_key_value_and_config_versions() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = compose(dir.path());

    let (imports, exports) = interfaces(&wasm);
    for spins in [
        "wasi:keyvalue/store@0.2.0-draft2",
        "wasi:keyvalue/atomics@0.2.0-draft2",
        "wasi:keyvalue/batch@0.2.0-draft2",
        "wasi:config/store@0.2.0-draft-2024-09-27",
    ] {
        assert!(imports.contains(spins), "{spins} missing from {imports:?}");
    }
    // Nothing of our own versions is left for Spin to refuse, and WASI
    // comes in one version, shared by the broker and the adapter.
    let keyvalue_and_config: Vec<_> = imports
        .iter()
        .filter(|name| name.starts_with("wasi:keyvalue/") || name.starts_with("wasi:config/"))
        .collect();
    assert_eq!(keyvalue_and_config.len(), 4, "{keyvalue_and_config:?}");
    let wasi_versions: BTreeSet<_> = imports
        .iter()
        .filter(|name| {
            [
                "wasi:io/",
                "wasi:cli/",
                "wasi:http/",
                "wasi:clocks/",
                "wasi:random/",
            ]
            .iter()
            .any(|package| name.starts_with(package))
        })
        .filter_map(|name| name.split_once('@').map(|(_, version)| version))
        .collect();
    assert_eq!(wasi_versions, BTreeSet::from(["0.2.4"]), "{imports:?}");
    assert_eq!(
        exports,
        BTreeSet::from([
            "pam:aws-console/broker@0.1.0".to_string(),
            "wasi:http/incoming-handler@0.2.0".to_string(),
        ])
    );
}

/// The example manifest asks for what the adapter opens and reads: the
/// `default` store, variables Spin accepts that name the CONTRACT's config
/// keys, and outbound HTTP to STS and the sign-in endpoint.
#[test]
fn the_example_spin_manifest_names_the_store_and_config_keys_the_adapter_uses() {
    let text = std::fs::read_to_string(root().join("adapters/spin/spin.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    let component = &manifest["component"]["pam-aws-console"];
    assert_eq!(
        component["key_value_stores"].as_array().unwrap(),
        &[toml::Value::from("default")]
    );
    let hosts: Vec<_> = component["allowed_outbound_hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|host| host.as_str().unwrap())
        .collect();
    assert_eq!(
        hosts,
        ["https://sts.amazonaws.com", "https://signin.aws.amazon.com"]
    );
    let documented = std::fs::read_to_string(root().join("README.md")).unwrap();
    for variable in component["variables"].as_table().unwrap().keys() {
        assert!(
            variable.starts_with(|c: char| c.is_ascii_lowercase())
                && variable
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{variable} is not a name Spin accepts"
        );
        let key = pam_aws_spin_adapter::rules::config_key(variable);
        assert!(
            documented.contains(&format!("`{key}`")),
            "{variable} reads config key {key}, which is not documented"
        );
    }
}

/// The whole flow under a host with Spin's interfaces and rules: variables
/// with underscores, the `default` store kept across requests (each in a
/// fresh instance), both hops with the external id and the email as session
/// name, the login URL, the session and audit in Spin's store, a typed error
/// for bad input and for an AWS refusal.
#[test]
fn the_composed_component_runs_the_whole_flow_under_spins_rules() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let wasm = compose(dir.path());
    let variables = [
        ("aws_access_key_id", w.access_key_id.as_str()),
        ("aws_secret_access_key", w.secret_access_key.as_str()),
        ("sts_endpoint", w.moto.as_str()),
        ("federation_endpoint", w.signin.as_str()),
        ("external_id", EXTERNAL_ID),
        ("auth_mode", "jwt"),
        ("jwt_hs256_secret", JWT_SECRET),
        ("jwt_issuer", "https://idp.example.test"),
        ("jwt_audience", "pam-aws"),
    ];
    let port = free_port();
    serve(
        &wasm,
        SpinApp {
            key_value_stores: vec!["default".to_string()],
            variables: variables
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        },
        port,
    );
    let base = format!("http://127.0.0.1:{port}/v1");
    let admin = token(ALICE, &["pam-admins"], 300);
    let user = token(SPIN_USER, &[], 300);

    let created = request(
        "POST",
        &format!("{base}/resources"),
        Some(&admin),
        Some(&json!({"name": "prod", "role_arn": w.resource_role})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let create_account = |name: &str, role_arn: &str| {
        let body = json!({"name": name, "role_arn": role_arn, "duration": "30m",
                          "allow": [SPIN_USER]});
        let url = format!("{base}/resources/prod/accounts");
        request("POST", &url, Some(&admin), Some(&body))
    };
    let bad = create_account("admin", "not-an-arn");
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.body["error"]["kind"], "invalid_input", "{}", bad.body);
    assert_eq!(bad.body["error"]["field"], "role-arn", "{}", bad.body);
    let account = create_account("admin", &w.target_role);
    assert_eq!(account.status, 201, "{}", account.body);
    let refused = create_account("other", &w.other_role);

    let before = assumed(&w.target_role, SPIN_USER).len();
    let granted = request(
        "POST",
        &format!("{base}/resources/prod/accounts/admin/access"),
        Some(&user),
        None,
    );
    assert_eq!(granted.status, 200, "{}", granted.body);
    let url = granted.body["url"].as_str().unwrap();
    assert!(
        url.starts_with(&w.signin) && url.contains("SigninToken="),
        "{url}"
    );
    assert_one_grant_reached_aws(SPIN_USER, before);

    // The records outlived the instance that wrote them: Spin's store.
    let sessions = request("GET", &format!("{base}/sessions"), Some(&admin), None);
    assert_eq!(sessions.status, 200, "{}", sessions.body);
    let id = &granted.body["session"]["id"];
    assert!(
        sessions
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|s| &s["id"] == id && s["user"] == SPIN_USER),
        "{}",
        sessions.body
    );
    let audit = request("GET", &format!("{base}/audit?limit=50"), Some(&admin), None);
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(audit.body.to_string().contains(SPIN_USER), "{}", audit.body);
    // An account whose role AWS will not let us assume is refused with AWS's error.
    if refused.status == 201 {
        let denied = request(
            "POST",
            &format!("{base}/resources/prod/accounts/other/access"),
            Some(&user),
            None,
        );
        assert_eq!(denied.body["error"]["kind"], "aws", "{}", denied.body);
    } else {
        assert_eq!(refused.body["error"]["kind"], "aws", "{}", refused.body);
    }
}

/// Spin opens only the stores a manifest allows: without `default` in
/// `key_value_stores`, the component says so instead of losing records.
#[test]
fn a_store_the_manifest_does_not_allow_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = compose(dir.path());
    let port = free_port();
    serve(
        &wasm,
        SpinApp {
            key_value_stores: vec!["other".to_string()],
            variables: [("jwt_hs256_secret".to_string(), JWT_SECRET.to_string())].into(),
        },
        port,
    );
    let answer = request(
        "GET",
        &format!("http://127.0.0.1:{port}/v1/resources"),
        Some(&token(ALICE, &["pam-admins"], 300)),
        None,
    );
    assert!(answer.status >= 500, "{} {}", answer.status, answer.body);
    assert!(
        answer.body.to_string().contains("denied"),
        "{}",
        answer.body
    );
}
