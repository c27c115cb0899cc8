//! Host-side bindings for the `plugin` world. WASI interfaces come from the
//! wasmtime crates; `wasi:keyvalue` is ours (`kv.rs`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "pam:aws-console/plugin-host",
    imports: { default: trappable },
    // Records print in the JSON shapes of CONTRACT.md (`output::to_json`).
    additional_derives: [serde::Serialize],
    exports: { default: async },
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:keyvalue/store.bucket": crate::kv::Bucket,
    },
    trappable_error_type: {
        "wasi:keyvalue/store.error" => crate::kv::KvError,
    },
});

pub use exports::pam::aws_console::broker;
pub use pam::aws_console::types;

pam_aws_contract::impl_fault!(Error, Hop);
use types::{Error, Hop};
