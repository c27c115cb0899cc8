//! The Spin adapter: a component that exports the key-value and config
//! interfaces pam-aws-console imports (`wasi:keyvalue@0.2.0-draft`,
//! `wasi:config@0.2.0-rc.1`) over the versions Spin provides
//! (`wasi:keyvalue@0.2.0-draft2`, `wasi:config@0.2.0-draft-2024-09-27`).
//! Composed in front of the component (`adapters/spin/build`), it lets Spin
//! run the broker unchanged. The mapping rules live in [`rules`].

pub mod rules;

// The exports are wasm symbols; natively only `rules` is built and tested.
#[cfg(target_arch = "wasm32")]
mod component;
