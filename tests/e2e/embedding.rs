//! The component as a library: the Node package (`embed/node`, jco and
//! preview2-shim) and the Python package (`embed/python`, wasmtime from
//! PyPI) run the whole flow against moto and the fake sign-in endpoint in
//! their own tests (node:test, pytest), with the records in the caller's store.

use crate::assumed;
use crate::support::*;
use std::process::Command;

/// The package tests' world, as `PAM_AWS_TEST_*` variables, and the
/// `pam-aws` whose component their builds take.
fn with_world<'a>(command: &'a mut Command, user: &str) -> &'a mut Command {
    let w = world();
    command
        .env("PAM_AWS", env!("CARGO_BIN_EXE_pam-aws"))
        .env("PAM_AWS_TEST_MOTO", &w.moto)
        .env("PAM_AWS_TEST_SIGNIN", &w.signin)
        .env("PAM_AWS_TEST_ACCESS_KEY_ID", &w.access_key_id)
        .env("PAM_AWS_TEST_SECRET_ACCESS_KEY", &w.secret_access_key)
        .env("PAM_AWS_TEST_RESOURCE_ROLE", &w.resource_role)
        .env("PAM_AWS_TEST_TARGET_ROLE", &w.target_role)
        .env("PAM_AWS_TEST_OTHER_ROLE", &w.other_role)
        .env("PAM_AWS_TEST_EXTERNAL_ID", EXTERNAL_ID)
        .env("PAM_AWS_TEST_USER", user)
}

/// moto saw one more hop 2 as `user` than `before`, with the project's
/// external id on both hops.
pub(crate) fn assert_one_grant_reached_aws(user: &str, before: usize) {
    let w = world();
    let hop2 = assumed(&w.target_role, user);
    assert_eq!(hop2.len(), before + 1, "one grant reached AWS");
    assert_eq!(hop2.last().unwrap()["external_id"], EXTERNAL_ID);
    let hop1 = assumed(&w.resource_role, user);
    assert_eq!(hop1.last().unwrap()["external_id"], EXTERNAL_ID);
}

/// `embed/node`'s `npm run build` with this build's `pam-aws`, then `npm test`.
#[test]
fn the_node_package_runs_the_whole_flow_against_moto() {
    let package = root().join("embed/node");
    assert!(
        package.join("node_modules").exists(),
        "embed/node has no node_modules: run scripts/setup --tests first"
    );
    let before = assumed(&world().target_role, EMBEDDED_USER).len();
    let npm = |args: &[&str]| {
        let mut command = Command::new("npm");
        with_world(command.args(args).current_dir(&package), EMBEDDED_USER);
        run_to_success(&mut command, &format!("npm {args:?}"))
    };
    npm(&["run", "build", "--silent"]);
    let printed = npm(&["test", "--silent"]);
    assert!(
        printed.contains("# pass 3") && printed.contains("# fail 0"),
        "{printed}"
    );
    assert_one_grant_reached_aws(EMBEDDED_USER, before);
}

/// `pip install ./embed/python` into the test virtualenv (the component
/// from this build's `pam-aws`), then its pytest suite.
#[test]
fn the_python_package_runs_the_whole_flow_against_moto() {
    let before = assumed(&world().target_role, PYTHON_USER).len();
    let mut install = Command::new(python());
    install
        .args(["-m", "pip", "install", "--quiet", "--no-deps"])
        .args(["--no-build-isolation", "--disable-pip-version-check"])
        .arg("--force-reinstall")
        .arg(root().join("embed/python"))
        .env("PAM_AWS", env!("CARGO_BIN_EXE_pam-aws"));
    run_to_success(&mut install, "pip install ./embed/python");
    let mut pytest = Command::new(python());
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root().join("embed/python/tests"))
        .current_dir(std::env::temp_dir());
    let printed = run_to_success(
        with_world(&mut pytest, PYTHON_USER),
        "pytest embed/python/tests",
    );
    assert!(printed.contains("2 passed"), "{printed}");
    assert_one_grant_reached_aws(PYTHON_USER, before);
}
