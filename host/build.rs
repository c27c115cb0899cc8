//! Builds the plugin component for `wasm32-wasip2` and puts it in OUT_DIR, so
//! `cargo build`/`cargo test` at the root embed a fresh component with no
//! extra step (as wasmtime's test-programs artifacts crate does).

// A failing build script is a build error: `expect` says which step failed.
#![allow(clippy::expect_used, clippy::panic)]

use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::Command;

/// How much LLVM may inline into the component's `opt-level = "z"` code
/// (whose own limit is 5): at 25, about 6 % less server CPU a grant for
/// about 5 KB (README, Performance). 40 would exceed the size cap, and 40
/// to 75 measured within 1 % of 25.
/// `benches/guest-grant` reads it from here.
const COMPONENT_INLINE_THRESHOLD: u32 = 25;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("workspace root").to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    // A target dir of its own: the outer cargo holds the lock on the main one.
    let target_dir = root.join("target").join("plugin");
    for watched in [
        "plugin/src",
        "plugin/console",
        "plugin/Cargo.toml",
        "wit",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("plugin").join("rust-toolchain.toml").display()
    );

    let mut command = plugin_cargo(&root);
    command
        .args([
            "build",
            "-p",
            "pam-aws-plugin",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "plugin",
            "--features",
            "component",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    // Flags meant for the host build (clippy's wrapper, coverage, sanitizers) must not leak in.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_MAKEFLAGS",
    ] {
        command.env_remove(var);
    }
    // The linker stops at the core module: it is optimised below, then made a component.
    let mut rustflags = vec![
        "-Clink-arg=--skip-wit-component".to_string(),
        format!("-Cllvm-args=-inline-threshold={COMPONENT_INLINE_THRESHOLD}"),
    ];
    // Panic locations name source files: without the registry's long prefix
    // (`~/.cargo/registry/src/index.crates.io-…/`) they take ~6 KB less.
    rustflags
        .extend(registry_sources().map(|dir| format!("--remap-path-prefix={}/=", dir.display())));
    command.env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\x1f"));
    let status = command.status().expect("running cargo to build the plugin");
    assert!(
        status.success(),
        "building the plugin failed; is its toolchain installed? run: scripts/setup"
    );
    let built = target_dir
        .join("wasm32-wasip2")
        .join("plugin")
        .join("pam_aws_plugin.wasm");
    let core = optimise(&built, &out_dir);
    let wasm = wit_component::ComponentEncoder::default()
        .module(&core)
        .expect("reading the plugin's core module")
        .validate(true)
        .encode()
        .expect("making the plugin a component");
    std::fs::write(out_dir.join("pam_aws_plugin.wasm"), &wasm)
        .expect("copying the plugin component");
    // Its digest, so a CLI call finds the compiled code without hashing 2 MB first.
    let digest: String = Sha256::digest(&wasm)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(out_dir.join("pam_aws_plugin.sha256"), digest)
        .expect("writing the plugin digest");
    pack_relative_relocations(&out_dir);
}

/// Cargo for the component, on the toolchain `plugin/rust-toolchain.toml`
/// names (its WASI imports depend on the Rust version), not the host's.
/// Under rustup that is its `cargo` proxy run in `plugin/`, with the host's
/// toolchain choice taken out of the environment; without rustup there is
/// one toolchain, and it builds both.
fn plugin_cargo(root: &std::path::Path) -> Command {
    println!("cargo:rerun-if-env-changed=RUSTUP_TOOLCHAIN");
    if std::env::var_os("RUSTUP_TOOLCHAIN").is_none() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut command = Command::new(cargo);
        command.current_dir(root);
        return command;
    }
    let mut command = Command::new("cargo");
    command
        .current_dir(root.join("plugin"))
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTUP_TOOLCHAIN_SOURCE")
        // The outer cargo's own settings for its rustc must not reach the other toolchain.
        .env_remove("RUSTC")
        .env_remove("RUSTDOC");
    command
}

/// Links the `pam-aws` binary with packed relative relocations (`DT_RELR`):
/// the loader otherwise applies ~68,000 of them one by one, about 1.5 ms of
/// every CLI call. Only where a probe shows the linker and C library take it
/// (binutils 2.38 and glibc 2.36 or newer); elsewhere the binary links as before.
fn pack_relative_relocations(out_dir: &std::path::Path) {
    const FLAG: &str = "-Wl,-z,pack-relative-relocs";
    println!("cargo:rerun-if-env-changed=CC");
    let is = |var: &str, value: &str| std::env::var(var).is_ok_and(|v| v == value);
    if !is("CARGO_CFG_TARGET_OS", "linux") || !is("CARGO_CFG_TARGET_ENV", "gnu") {
        return;
    }
    let source = out_dir.join("relr_probe.c");
    let probe = out_dir.join("relr_probe");
    std::fs::write(&source, "int main(void) { return 0; }\n").expect("writing the linker probe");
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let linked = Command::new(cc)
        .args(["-pie", "-fPIE", FLAG])
        .arg(&source)
        .arg("-o")
        .arg(&probe)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    // Cross builds cannot run the probe; a link that worked is then enough.
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    let loads = !native || Command::new(&probe).status().is_ok_and(|s| s.success());
    if linked && loads {
        println!("cargo:rustc-link-arg-bins={FLAG}");
    }
}

/// The folders cargo unpacks registry crates into (one per registry).
fn registry_sources() -> impl Iterator<Item = PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    cargo_home
        .and_then(|home| std::fs::read_dir(home.join("registry").join("src")).ok())
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
}

/// Runs binaryen's `wasm-opt -Oz` on the core module (about a sixth smaller
/// than LLVM's `opt-level = "s"` alone). Without `wasm-opt` (`scripts/setup`
/// installs it) the component still builds, larger, with a warning.
fn optimise(core: &std::path::Path, out_dir: &std::path::Path) -> Vec<u8> {
    println!("cargo:rerun-if-env-changed=WASM_OPT");
    let wasm_opt = std::env::var_os("WASM_OPT").unwrap_or_else(|| "wasm-opt".into());
    let optimised = out_dir.join("pam_aws_plugin.opt.wasm");
    let ran = Command::new(&wasm_opt)
        .arg("-Oz")
        // The features the wasm32-wasip2 target enables.
        .args([
            "--enable-bulk-memory",
            "--enable-mutable-globals",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-reference-types",
            "--enable-multivalue",
        ])
        .arg(core)
        .arg("-o")
        .arg(&optimised)
        .status();
    match ran {
        Ok(status) if status.success() => {
            std::fs::read(&optimised).expect("reading the optimised plugin")
        }
        Ok(status) => panic!("wasm-opt failed on the plugin ({status})"),
        Err(e) => {
            println!(
                "cargo:warning=wasm-opt not found ({e}): the component is built unoptimised and larger; scripts/setup installs binaryen"
            );
            std::fs::read(core).expect("reading the plugin's core module")
        }
    }
}
