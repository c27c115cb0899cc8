"""The training run of a profile-guided release build (scripts/build-release).

Drives a `pam-aws` binary through the work it does in production, so the
profile it writes says which code is hot: `serve` answering grants (and the
other REST calls: health, lists, revocation) over keep-alive connections, on
the memory store against AWS over plain HTTP (as the benchmarks' stub) and
on SQLite against AWS over TLS (as in production; when openssl is there to
make a certificate), one client and several at once, then CLI calls. AWS is
a canned STS, IAM and sign-in stub in a child process (apart from the
clients' interpreter lock, so it keeps up): no network, no credentials.
Every answer is checked, so a workload that stopped working fails the build
instead of training on error paths.

usage: python3 scripts/lib/pgo-train.py PAM_AWS [--seconds N]
"""

import argparse
import http.client
import http.server
import json
import multiprocessing
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

# The answers of nginx in benches/lib/stub-aws.sh: every AssumeRole (hop 1
# and hop 2) gets the same role credentials.
ASSUME_ROLE = (
    '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
    "<AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/PamTarget/alice@example.com</Arn>"
    "<AssumedRoleId>AROA3XFRBF535PLBIFPI4:alice@example.com</AssumedRoleId></AssumedRoleUser>"
    "<Credentials><AccessKeyId>ASIASTUBSTUBSTUBSTUB</AccessKeyId>"
    "<SecretAccessKey>stubstubstubstubstubstubstubstubstubstub</SecretAccessKey>"
    "<SessionToken>STUBTOKENSTUBTOKENSTUBTOKENSTUBTOKEN</SessionToken>"
    "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult>"
    "<ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId>"
    "</ResponseMetadata></AssumeRoleResponse>"
).encode()
SIGNIN_TOKEN = b'{"SigninToken":"stub-signin-token"}'
# IAM, for revocations: no policies yet, and any policy written.
IAM = {
    "ListRolePolicies": b"<ListRolePoliciesResponse><ListRolePoliciesResult><PolicyNames/>"
    b"<IsTruncated>false</IsTruncated></ListRolePoliciesResult></ListRolePoliciesResponse>",
    "PutRolePolicy": b"<PutRolePolicyResponse><ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000001"
    b"</RequestId></ResponseMetadata></PutRolePolicyResponse>",
}
SECRET = "pgo-training-secret"
CATALOG = {
    "resources": [
        {
            "name": "bench",
            "role_arn": "arn:aws:iam::111122223333:role/PamResourceRole",
            "external_id": "bench-project",
        }
    ],
    "accounts": [
        {
            "resource": "bench",
            "name": "admin",
            "role_arn": "arn:aws:iam::111122223333:role/PamTarget",
            "duration": "15m",
            "allow": ["alice@example.com"],
        }
    ],
}
# The CLI calls after the two serve runs: grants, then the lists.
CLI_CALLS = [["access", "bench/admin", "--user", "alice@example.com"]] * 20 + [
    ["sessions", "--active"],
    ["audit", "--limit", "20"],
]
ACCESS = "/v1/resources/bench/accounts/admin/access"


class Stub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as AWS and the pooled client use it
    disable_nagle_algorithm = True  # or the body waits for the headers' delayed ACK

    def answer(self, body, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        self.answer(IAM.get(form.get("Action", [""])[0], ASSUME_ROLE), "text/xml")

    def do_GET(self):
        self.answer(SIGNIN_TOKEN, "application/json")

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_stub(tls=None):
    """The stub in a child process; its address as a URL."""
    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        stub.socket = context.wrap_socket(stub.socket, server_side=True)
    process = multiprocessing.get_context("fork").Process(target=stub.serve_forever, daemon=True)
    process.start()
    stub.socket.close()  # the child's now
    return f"{'https' if tls else 'http'}://127.0.0.1:{stub.server_address[1]}", process


def make_certificate(folder):
    """A CA (ca.pem, which the host is told to trust) and the stub's
    certificate for 127.0.0.1 it signed; None without openssl."""
    if not shutil.which("openssl"):
        print("pgo-train: no openssl, so no training over TLS", file=sys.stderr)
        return None
    path = lambda name: os.path.join(folder, name)
    with open(path("ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for command in (
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=pgo-train-ca "
        f"-keyout {path('ca.key')} -out {path('ca.pem')}",
        "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 "
        f"-keyout {path('stub.key')} -out {path('stub.csr')}",
        f"x509 -req -in {path('stub.csr')} -CA {path('ca.pem')} -CAkey {path('ca.key')} -CAcreateserial "
        f"-days 1 -extfile {path('ext.cnf')} -out {path('stub.pem')}",
    ):
        subprocess.run(["openssl", *command.split()], check=True, capture_output=True)
    return path("stub.pem"), path("stub.key")


def write_config(folder, store, stub):
    """A config for `store` against `stub`, beside the catalog (catalog.json)."""
    path = os.path.join(folder, f"{store.split(':')[0]}.toml")
    with open(path, "w") as f:
        f.write(
            f"""[store]
url = "{store}"
[aws]
region = "us-east-1"
sts_endpoint = "{stub}"
federation_endpoint = "{stub}/federation"
iam_endpoint = "{stub}"
issuer = "pam-aws-training"
[auth]
mode = "trusted-header"
trusted_header_secret = "{SECRET}"
[catalog]
file = "catalog.json"
"""
        )
    return path


class Client:
    """One keep-alive connection to `serve`, as a gateway holds it."""

    def __init__(self, port):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, user, groups=""):
        headers = {"x-pam-user": user, "x-pam-gateway-secret": SECRET, "content-length": "0"}
        if groups:
            headers["x-pam-groups"] = groups
        self.connection.request(method, path, headers=headers)
        answer = self.connection.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{method} {path} answered {answer.status}: {body[:200]!r}")
        return json.loads(body) if body.startswith((b"{", b"[")) else body


def drive(port, seconds, counts):
    """Grants for `seconds`; on the first turn and every 50th, also the other
    calls a gateway makes, a revocation among them."""
    try:
        counts.append(drive_one(port, seconds))
    except Exception as error:  # a thread's exception would only be printed
        counts.append(error)


def drive_one(port, seconds):
    client = Client(port)
    deadline = time.monotonic() + seconds
    grants = revocations = 0
    while grants == 0 or time.monotonic() < deadline:
        granted = client.call("POST", ACCESS, "alice@example.com")
        grants += 1
        if grants % 50 == 1:
            admin = ("admin@example.com", "pam-admins")
            client.call("GET", "/healthz", *admin)
            client.call("GET", "/v1/resources/bench/accounts/admin", *admin)
            client.call("GET", "/v1/sessions?limit=20", *admin)
            client.call("GET", "/v1/audit?limit=20", *admin)
            client.call("POST", f"/v1/sessions/{granted['session']['id']}/revoke", *admin)
            revocations += 1
    return grants, revocations


def train_serve(pam, config, env, seconds):
    port = free_port()
    server = subprocess.Popen(
        [pam, "--config", config, "serve", "--listen", f"127.0.0.1:{port}"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        counts = []
        for clients in (1, 8):
            threads = [threading.Thread(target=drive, args=(port, seconds, counts)) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        failures = [count for count in counts if isinstance(count, Exception)]
        if failures:
            raise SystemExit(f"pgo-train: {failures[0]}")
    finally:
        # A clean exit is what writes the profile.
        server.send_signal(signal.SIGTERM)
        status = server.wait(timeout=60)
    if status != 0:
        raise SystemExit(f"pgo-train: serve exited with {status}")
    return [sum(column) for column in zip(*counts)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pam_aws")
    parser.add_argument("--seconds", type=float, default=4.0, help="per phase (default 4)")
    arguments = parser.parse_args()
    pam = os.path.abspath(arguments.pam_aws)

    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        with open(os.path.join(folder, "catalog.json"), "w") as f:
            json.dump(CATALOG, f)
        grants = over_tls = revocations = 0
        tls = make_certificate(folder)
        stubs = []
        for store, stub_tls in (("memory:", None), ("sqlite://pam.db", tls)):
            stub, stub_process = start_stub(stub_tls)
            stubs.append(stub_process)
            if stub_tls:
                env["SSL_CERT_FILE"] = os.path.join(folder, "ca.pem")
            config = write_config(folder, store, stub)
            served = train_serve(pam, config, env, arguments.seconds)
            grants, revocations = grants + served[0], revocations + served[1]
            over_tls += served[0] if stub_tls else 0
        for command in CLI_CALLS:
            subprocess.run([pam, "--config", config, "--json", *command], env=env, check=True, capture_output=True)
        for stub_process in stubs:
            stub_process.terminate()
    print(f"pgo-train: {grants} grants ({over_tls} over TLS) and {revocations} revocations served, {len(CLI_CALLS)} CLI calls")


if __name__ == "__main__":
    sys.exit(main())
