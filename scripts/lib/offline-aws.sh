# Sourced by scripts/demo and benches/access-latency: starts moto (IAM auth
# on after set-up) and the fake sign-in endpoint, creates the IAM world, and
# writes a pam-aws.toml for them into $demo. Sets: pam, demo, and exports
# the base credentials. Requires: root, demo.
py="$root/.venv/bin/python"
pam="$root/target/debug/pam-aws"
mkdir -p "$demo"
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
moto_port=$(free_port)
signin_port=$(free_port)
"$py" -m moto.server -H 127.0.0.1 -p "$moto_port" >"$demo/moto.log" 2>&1 &
moto_pid=$!
"$py" "$root/tests/support/fake_signin.py" "$signin_port" >"$demo/signin.log" 2>&1 &
signin_pid=$!
trap 'kill $moto_pid $signin_pid 2>/dev/null || true' EXIT
for port in "$moto_port" "$signin_port"; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
done

setup=$("$py" "$root/tests/support/moto_setup.py" "http://127.0.0.1:$moto_port" demo-project pam-aws-validation alice@example.com)
field() { "$py" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$setup" "$1"; }
AWS_ACCESS_KEY_ID=$(field access_key_id)
AWS_SECRET_ACCESS_KEY=$(field secret_access_key)
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

cat >"$demo/pam-aws.toml" <<TOML
[store]
url = "sqlite://pam.db"

[aws]
region = "us-east-1"
sts_endpoint = "http://127.0.0.1:$moto_port"
federation_endpoint = "http://127.0.0.1:$signin_port/federation"
issuer = "pam-aws-demo"
external_id = "demo-project"
TOML
