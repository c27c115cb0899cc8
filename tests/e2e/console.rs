//! The web console in a real browser: headless Chromium, driven by
//! `tests/browser/console.py` (Selenium), against `pam-aws serve` and moto,
//! reached through an identity proxy as it would be behind oauth2-proxy.

use crate::assumed;
use crate::support::*;
use std::process::Command;

const ADMIN: &str = "root@example.com";

/// Runs the browser script with `args`; its output is the test's on failure.
pub fn browser(args: &[&str]) {
    let output = Command::new(python())
        .arg(root().join("tests/browser/console.py"))
        .args(args)
        .output()
        .expect("running tests/browser/console.py");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the browser run failed:\n{printed}"
    );
    eprintln!("{printed}");
}

#[test]
fn an_admin_sets_up_a_user_opens_the_aws_console_and_the_admin_revokes_it_in_a_browser() {
    let w = world();
    let pam = jwt_gateway();
    let server = pam.serve();
    let (admin, user) = (
        token(ADMIN, &["pam-admins"], 3600),
        token(BROWSER_USER, &["dev"], 3600),
    );
    // `PAM_AWS_SCREENSHOTS=docs/console` refreshes the README's pictures.
    let screenshots = std::env::var("PAM_AWS_SCREENSHOTS")
        .map(|dir| root().join(dir))
        .unwrap_or_else(|_| pam.dir.path().join("screenshots"));
    let before = assumed(&w.target_role, BROWSER_USER).len();
    browser(&[
        "flow",
        "--upstream",
        &server.url,
        "--admin-token",
        &admin,
        "--user-token",
        &user,
        "--user",
        BROWSER_USER,
        "--resource-role",
        &w.resource_role,
        "--target-role",
        &w.target_role,
        "--signin",
        &w.signin,
        "--screenshots",
        screenshots.to_str().unwrap(),
    ]);
    // Both clicks (one new tab, one blocked pop-up) reached AWS as the user:
    // hop 2 with their email as session name.
    assert_eq!(assumed(&w.target_role, BROWSER_USER).len(), before + 2);
    // The console URL was opened with no Referer naming the page.
    let landings: Vec<_> = signin_requests()
        .into_iter()
        .filter(|r| r["query"]["Action"] == "login")
        .collect();
    let landing = landings
        .last()
        .expect("the new tab reached the sign-in URL");
    assert!(landing["referer"].is_null(), "{landing}");
    // What the page showed is what was stored: the newest session revoked.
    let sessions = pam.json(&["sessions", "--user", BROWSER_USER]);
    let session = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["resource"] == "web-prod")
        .expect("the session");
    assert_eq!(session["status"], "revoked");
    for name in ["resources", "accounts", "sessions", "audit"] {
        assert!(
            screenshots.join(format!("{name}.png")).exists(),
            "{name}.png"
        );
    }
}
