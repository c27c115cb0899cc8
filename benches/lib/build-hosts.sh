# Sourced by benches: the release host built both ways, the plain
# `cargo build --release` and the profile-guided scripts/build-release
# (about 20 minutes from nothing, seconds when both are up to date); the
# build's output is shown only if it fails. Sets: pgo (the profile-guided
# binary), plain. Requires: root.
echo "building the release host, with and without its profile (about 20 minutes from nothing)" >&2
build_log=$(mktemp)
{ cargo build --locked --release -p pam-aws && scripts/build-release; } >"$build_log" 2>&1 ||
  { cat "$build_log" >&2; rm -f "$build_log"; exit 1; }
rm -f "$build_log"
pgo="$root/target/pgo/pam-aws"
plain="$root/target/release/pam-aws"
