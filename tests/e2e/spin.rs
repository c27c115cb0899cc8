//! The Spin adapter: `adapters/spin/build` composes it in front of the
//! component, and what comes out asks for Spin's interface versions only.

use crate::support::*;
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

#[test]
fn the_spin_composition_imports_spins_key_value_and_config_versions() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("pam-aws-console-spin.wasm");
    let mut build = Command::new(root().join("adapters/spin/build"));
    build
        .arg(&wasm)
        .env("PAM_AWS", env!("CARGO_BIN_EXE_pam-aws"));
    let printed = run_to_success(&mut build, "adapters/spin/build");
    assert!(printed.contains("wrote"), "{printed}");

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
