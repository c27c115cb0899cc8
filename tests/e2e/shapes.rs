//! What the CLI prints: `--json` in the shapes docs/openapi.json gives the
//! REST API (checked by an independent validator), and tables that fit the
//! terminal they are printed on.

use crate::support::*;
use serde_json::{Value, json};

/// Every element of a JSON list as one sample of `schema`.
fn each(schema: &str, list: &Value) -> Vec<(String, Value)> {
    let items = list.as_array().expect("a JSON list");
    assert!(!items.is_empty(), "{schema}: an empty list checks nothing");
    items
        .iter()
        .map(|item| (schema.to_string(), item.clone()))
        .collect()
}

#[test]
fn cli_json_output_matches_the_openapi_schemas() {
    let pam = Pam::with_config(&format!("iam_endpoint = \"{}\"\n", world().moto));
    let resource = pam.create_resource("shapes");
    let account = pam.create_account("shapes", "admin", "30m");
    let grant = pam.json(&["access", "shapes/admin", "--user", CAROL]);
    let id = grant["session"]["id"].as_str().unwrap().to_string();
    let revoked = pam.json(&["revoke", &id]);
    let missing = pam.run(&["resource", "show", "nowhere", "--json"]);
    assert_eq!(missing.code, 3);

    let mut samples = vec![
        ("Resource".to_string(), resource),
        ("Account".to_string(), account),
        ("Session".to_string(), grant["session"].clone()),
        ("AccessGrant".to_string(), grant),
        (
            "Resource".to_string(),
            pam.json(&["resource", "show", "shapes"]),
        ),
        (
            "Account".to_string(),
            pam.json(&["account", "show", "shapes/admin"]),
        ),
        ("Error".to_string(), missing.json()),
    ];
    samples.extend(each("Resource", &pam.json(&["resource", "list"])));
    samples.extend(each("Account", &pam.json(&["account", "list"])));
    samples.extend(each("Session", &pam.json(&["sessions", "--user", CAROL])));
    samples.extend(each("Session", &revoked));
    samples.extend(each("AuditEvent", &pam.json(&["audit", "--limit", "10"])));

    let file = pam.dir.path().join("samples.json");
    let listed: Vec<Value> = samples
        .iter()
        .map(|(schema, value)| json!({"schema": schema, "value": value}))
        .collect();
    std::fs::write(&file, Value::Array(listed).to_string()).unwrap();
    let report = python_json("check_openapi.py", &[file.to_str().unwrap()]);
    assert_eq!(report["checked"], samples.len());
    assert_eq!(report["errors"], json!([]), "{report:#}");
}

#[test]
fn tables_fit_the_terminal() {
    let mut pam = Pam::new();
    pam.create_resource("wide");
    pam.create_account("wide", "admin", "30m");
    pam.json(&["access", "wide/admin", "--user", CAROL]);
    let grant = pam.json(&["access", "wide/admin", "--user", LONG_EMAIL]);
    let session = grant["session"]["id"].as_str().unwrap();

    // Piped with no COLUMNS to fit: every record on one line, whole.
    let piped = |command: &str| {
        let output = pam.command().env_remove("COLUMNS").arg(command).output();
        Run::from(output.expect("running pam-aws")).ok().stdout
    };
    let sessions = piped("sessions");
    assert!(
        sessions
            .lines()
            .any(|l| l.contains(session) && l.contains(LONG_EMAIL) && l.contains("wide/admin")),
        "one line holds the whole session:\n{sessions}"
    );
    let audit = piped("audit");
    assert!(
        audit.lines().any(|l| l.contains("access.grant")
            && l.contains(LONG_EMAIL)
            && l.contains(":assumed-role/")
            && l.contains(&format!(
                "until {}",
                grant["session"]["expires_at"].as_str().unwrap()
            ))),
        "one line holds the whole event:\n{audit}"
    );

    for columns in ["80", "120"] {
        pam.set_env("COLUMNS", columns);
        let width: usize = columns.parse().unwrap();
        for command in [
            &["resource", "list"][..],
            &["account", "list"],
            &["sessions"],
            &["audit"],
        ] {
            let printed = pam.run(command).ok().stdout;
            let widest = printed
                .lines()
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(0);
            assert!(
                widest <= width,
                "{command:?} at {columns} columns is {widest} wide:\n{printed}"
            );
            assert!(
                printed.contains("wide"),
                "{command:?} shows the records:\n{printed}"
            );
        }
    }
}
