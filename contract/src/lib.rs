//! Knowledge the component and the host share, written once: both sides
//! generate their own Rust types from `wit/` (wit-bindgen in the guest,
//! wasmtime's `bindgen!` in the host), so what each error kind means, how a
//! message reads, which exit code and HTTP status it gets, which AWS
//! endpoints a partition has and how stored text is printed live here, and
//! each side maps its generated `error` onto [`Fault`] with [`impl_fault!`].

pub mod fault;
pub mod partition;
pub mod text;

pub use fault::{AwsFault, Fault, HopName, Kind};

/// Resource and account names (WIT, OpenAPI and the code say this): short,
/// URL- and path-safe (`RES/NAME` on the CLI).
pub const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$";
pub const NAME_RULE: &str =
    "must be 1 to 63 characters of [A-Za-z0-9._-], starting with a letter or digit";
