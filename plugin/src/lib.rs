//! The pam-aws-console component. Plain-Rust logic (validation, signing,
//! parsing, the broker) is tested natively; `component` is the WIT shell.

mod bindings;
pub mod broker;
pub mod error;
pub mod federation;
pub mod iam;
pub mod partition;
pub mod platform;
pub mod retry;
pub mod revocation;
pub mod session_name;
pub mod settings;
pub mod store;
pub mod sts;
pub mod validate;

#[cfg(target_arch = "wasm32")]
mod component;

pub use bindings::pam::aws_console::types as model;
