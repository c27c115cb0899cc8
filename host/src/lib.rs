//! The pam-aws host: runs the pam-aws-console component in wasmtime with
//! the imports it needs (outgoing HTTP behind an egress allow-list, a
//! key-value store over SQLite, Redis or memory, configuration), and the CLI.

pub mod bindings;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod egress;
pub mod host;
pub mod kv;
pub mod logs;
pub mod output;
pub mod runtime;
pub mod server;

/// The component built from `plugin/` by `build.rs`, embedded so the binary is one file.
pub static PLUGIN_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pam_aws_plugin.wasm"));

/// `PLUGIN_WASM`'s SHA-256 (hex), computed by `build.rs`.
pub const PLUGIN_WASM_SHA256: &str =
    include_str!(concat!(env!("OUT_DIR"), "/pam_aws_plugin.sha256"));
