//! The component as a library: the Node package (`embed/node`, jco and
//! preview2-shim) runs the whole flow against moto and the fake sign-in
//! endpoint in its own tests (node:test), with the records in the caller's store.

use crate::assumed;
use crate::support::*;
use std::process::Command;

/// `embed/node`'s `npm run build` with this build's `pam-aws`, then `npm test`.
#[test]
fn the_node_package_runs_the_whole_flow_against_moto() {
    let w = world();
    let package = root().join("embed/node");
    assert!(
        package.join("node_modules").exists(),
        "embed/node has no node_modules: run scripts/setup --tests first"
    );
    let before = assumed(&w.target_role, EMBEDDED_USER).len();
    let npm = |args: &[&str]| {
        let mut command = Command::new("npm");
        command
            .args(args)
            .current_dir(&package)
            .env("PAM_AWS", env!("CARGO_BIN_EXE_pam-aws"))
            .env("PAM_AWS_TEST_MOTO", &w.moto)
            .env("PAM_AWS_TEST_SIGNIN", &w.signin)
            .env("PAM_AWS_TEST_ACCESS_KEY_ID", &w.access_key_id)
            .env("PAM_AWS_TEST_SECRET_ACCESS_KEY", &w.secret_access_key)
            .env("PAM_AWS_TEST_RESOURCE_ROLE", &w.resource_role)
            .env("PAM_AWS_TEST_TARGET_ROLE", &w.target_role)
            .env("PAM_AWS_TEST_OTHER_ROLE", &w.other_role)
            .env("PAM_AWS_TEST_EXTERNAL_ID", EXTERNAL_ID)
            .env("PAM_AWS_TEST_USER", EMBEDDED_USER);
        run_to_success(&mut command, &format!("npm {args:?}"))
    };
    npm(&["run", "build", "--silent"]);
    let printed = npm(&["test", "--silent"]);
    assert!(
        printed.contains("# pass 3") && printed.contains("# fail 0"),
        "{printed}"
    );
    // moto saw hop 2 as the user, with the project's external id on both hops.
    let hop2 = assumed(&w.target_role, EMBEDDED_USER);
    assert_eq!(hop2.len(), before + 1, "one grant reached AWS");
    assert_eq!(hop2.last().unwrap()["external_id"], EXTERNAL_ID);
    let hop1 = assumed(&w.resource_role, EMBEDDED_USER);
    assert_eq!(hop1.last().unwrap()["external_id"], EXTERNAL_ID);
}
