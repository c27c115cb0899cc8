# The version of upstream wasmtime (the CLI) that the tests and benchmarks run
# beside our host: that of the host's WASI crates in Cargo.lock. A CLI is
# published together with its WASI crates, while the host's `wasmtime`
# runtime crate may be a later patch release of the same line (50.0.2 with
# the 50.0.1 WASI crates) that has no CLI of its own.
upstream_wasmtime_version() {
  awk '/^name = "wasmtime-wasi-http"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' "$1/Cargo.lock"
}
