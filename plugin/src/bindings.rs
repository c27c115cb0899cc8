//! Bindings generated from `wit/`. The record types double as the plugin's
//! domain model (with serde for the key-value store); everything that needs
//! the WASI imports lives in `component.rs`.

wit_bindgen::generate!({
    world: "plugin",
    path: "../wit",
    generate_all,
    // Records stored before a field existed still read.
    additional_member_attributes: {
        "pam:aws-console/types@0.1.0/resource.source-identity": [#[serde(default)]],
        "pam:aws-console/types@0.1.0/session.source-identity": [#[serde(default)]],
        "pam:aws-console/types@0.1.0/account.service": [#[serde(default)]],
        "pam:aws-console/types@0.1.0/new-resource.source-identity": [#[serde(default)]],
        "pam:aws-console/types@0.1.0/new-account.allow": [#[serde(default)]],
        // JSON in and out share shapes: a body may use the name GET answers with.
        "pam:aws-console/types@0.1.0/new-account.duration": [#[serde(alias = "session_duration")]],
    },
    additional_type_attributes: {
        "pam:aws-console/types@0.1.0/resource": [#[derive(serde::Serialize, serde::Deserialize, PartialEq)]],
        // Catalog entries and REST bodies: a misspelt field is an error, not ignored.
        "pam:aws-console/types@0.1.0/new-resource": [#[derive(serde::Serialize, serde::Deserialize, PartialEq)] #[serde(deny_unknown_fields)]],
        "pam:aws-console/types@0.1.0/account": [#[derive(serde::Serialize, serde::Deserialize, PartialEq)]],
        "pam:aws-console/types@0.1.0/new-account": [#[derive(serde::Serialize, serde::Deserialize, PartialEq)] #[serde(deny_unknown_fields)]],
        "pam:aws-console/types@0.1.0/session": [#[derive(serde::Serialize, serde::Deserialize, PartialEq)]],
        "pam:aws-console/types@0.1.0/access-request": [#[derive(serde::Serialize, serde::Deserialize, PartialEq)]],
        "pam:aws-console/types@0.1.0/access-grant": [#[derive(serde::Serialize, serde::Deserialize, PartialEq)]],
        "pam:aws-console/types@0.1.0/credentials-grant": [#[derive(PartialEq)]],
        "pam:aws-console/types@0.1.0/session-filter": [#[derive(serde::Serialize, serde::Deserialize, PartialEq)]],
        "pam:aws-console/types@0.1.0/audit-event": [#[derive(serde::Serialize, serde::Deserialize, PartialEq)]],
        "pam:aws-console/types@0.1.0/aws-error": [#[derive(serde::Serialize, serde::Deserialize, PartialEq)]],
        "pam:aws-console/types@0.1.0/invalid-input": [#[derive(serde::Serialize, serde::Deserialize, PartialEq)]],
        "pam:aws-console/types@0.1.0/error": [#[derive(serde::Serialize, serde::Deserialize, PartialEq)]],
        "pam:aws-console/types@0.1.0/session-status": [#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = "snake_case")]],
        "pam:aws-console/types@0.1.0/outcome": [#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = "snake_case")]],
        "pam:aws-console/types@0.1.0/hop": [#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = "snake_case")]],
    },
});
