//! The profile-guided release build (`scripts/build-release`) optimises the
//! host for what its training run (`scripts/lib/pgo-train.py`) does. That
//! run must keep working against the binary as it is: a workload that
//! broke would train the release on error paths, or stop it.

use crate::support::*;
use std::process::Command;

#[test]
fn the_release_builds_training_run_grants_over_http_and_tls_revokes_and_calls_the_cli() {
    let printed = run_to_success(
        Command::new(python())
            .arg(root().join("scripts/lib/pgo-train.py"))
            .arg(env!("CARGO_BIN_EXE_pam-aws"))
            .args(["--seconds", "0.3"]),
        "scripts/lib/pgo-train.py",
    );
    // "pgo-train: G grants (T over TLS) and R revocations served, C CLI calls"
    let counts: Vec<u64> = printed
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect();
    let [grants, over_tls, revocations, cli_calls] = counts[..] else {
        panic!("unexpected summary: {printed}")
    };
    // Two stores, one client and then eight: each of the 18 clients grants
    // and revokes at least once; SQLite's nine against the stub over TLS
    // (the tests' set-up installs openssl).
    assert!(grants >= 18, "{printed}");
    assert!(over_tls >= 9 && over_tls < grants, "{printed}");
    assert!(revocations >= 18, "{printed}");
    assert_eq!(cli_calls, 22, "{printed}");
}
