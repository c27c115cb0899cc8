# cargo on the component's toolchain (plugin/rust-toolchain.toml), as
# host/build.rs runs it: from plugin/, where rustup picks that toolchain,
# with any toolchain choice inherited from an outer cargo (a test that runs
# this script) taken out of the environment.
component_cargo() {
  (cd "$root/plugin" && env -u RUSTUP_TOOLCHAIN -u RUSTUP_TOOLCHAIN_SOURCE -u RUSTC cargo "$@")
}
