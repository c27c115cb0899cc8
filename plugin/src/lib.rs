//! The pam-aws-console component. Plain-Rust logic (validation, signing,
//! parsing, the broker) is tested natively; `component` is the WIT shell.

pub mod api;
pub mod audit;
pub mod aws;
mod bindings;
pub mod broker;
pub mod catalog;
pub mod clock;
pub mod console;
pub mod directory;
pub mod entries;
pub mod error;
pub mod federation;
pub mod grant;
pub mod iam;
pub mod identity;
mod jwt_crypto;
pub mod layout;
pub mod platform;
pub mod policy;
pub mod query;
pub mod retention;
pub mod retry;
pub mod revocation;
pub mod session_name;
pub mod sessions;
pub mod settings;
pub mod store;
pub mod sts;
pub mod validate;
pub mod xml;

#[cfg(test)]
mod testing;

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
mod incoming;
#[cfg(target_arch = "wasm32")]
mod wasi_body;

pub use bindings::pam::aws_console::types as model;
pub use pam_aws_contract::partition;
