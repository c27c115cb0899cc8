"""A programmable stand-in for STS, IAM's inline role policies and the
sign-in endpoint, for fault tests: each answer can be scripted (status,
body, delay), and every request is recorded. Unscripted requests get
well-formed successes. IAM keeps role policies in memory, enforces the
10,240-character limit on a role's inline policies together, and can be
made slow per action, to widen the window concurrent writers race in.

usage: fake_aws.py PORT   (runs until standard input closes)
  POST /                      STS query API (AssumeRole), IAM query API
                              (List/Get/Put/DeleteRolePolicy)
  GET  /federation            getSigninToken
  POST /_script/sts|signin    JSON list of {"status", "body", "delay", "size",
                              "close" (answer, then close the connection without
                              saying so), "drop" (close it without answering)}
  POST /_iam_delays           JSON {"GetRolePolicy": seconds, ...}
  GET  /_requests             what was received
  GET  /_policies             {role: {policy name: document}}
"""

import itertools
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlparse
from xml.sax.saxutils import escape

LOCK = threading.Lock()
SCRIPTS = {"sts": [], "signin": []}
RECEIVED = []
POLICIES = {}  # role name -> {policy name: document}
IAM_DELAYS = {}
IAM_LIMIT = 10240
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
CONNECTIONS = itertools.count(1)  # every request records the number of its connection


def iam_error(status, code, message):
    return status, (
        f'<ErrorResponse xmlns="{IAM_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )


def iam_answer(action, result):
    return 200, (
        f'<{action}Response xmlns="{IAM_NS}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
    )


def size(document):
    return sum(1 for c in document if not c.isspace())


def iam(form):
    """One IAM call. Reads happen before the (optional) delay and writes
    after it, as a slow real endpoint would let writers interleave."""
    action, role, name = form["Action"], form.get("RoleName", ""), form.get("PolicyName", "")
    if action == "ListRolePolicies":
        with LOCK:
            names = sorted(POLICIES.get(role, {}))
        time.sleep(IAM_DELAYS.get(action, 0))
        members = "".join(f"<member>{n}</member>" for n in names)
        return iam_answer(action, f"<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>")
    if action == "GetRolePolicy":
        with LOCK:
            document = POLICIES.get(role, {}).get(name)
        time.sleep(IAM_DELAYS.get(action, 0))
        if document is None:
            return iam_error(404, "NoSuchEntity", f"The role policy with name {name} cannot be found.")
        return iam_answer(
            action,
            f"<RoleName>{role}</RoleName><PolicyName>{name}</PolicyName>"
            f"<PolicyDocument>{quote(document)}</PolicyDocument>",
        )
    time.sleep(IAM_DELAYS.get(action, 0))
    with LOCK:
        policies = POLICIES.setdefault(role, {})
        if action == "PutRolePolicy":
            document = form["PolicyDocument"]
            others = sum(size(d) for n, d in policies.items() if n != name)
            if others + size(document) > IAM_LIMIT:
                return iam_error(409, "LimitExceeded", f"Maximum policy size of {IAM_LIMIT} bytes exceeded for role {role}")
            policies[name] = document
            return iam_answer(action, "")
        if action == "DeleteRolePolicy":
            if policies.pop(name, None) is None:
                return iam_error(404, "NoSuchEntity", f"The role policy with name {name} cannot be found.")
            return iam_answer(action, "")
    return iam_error(400, "InvalidAction", f"{action} is not faked")


def assume_role_success(form):
    role = form.get("RoleArn", "arn:aws:iam::123456789012:role/R")
    name = role.rsplit("/", 1)[-1]
    session = form.get("RoleSessionName", "s")
    seconds = int(form.get("DurationSeconds", "900"))
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))
    key = "ASIA" + uuid.uuid4().hex[:16].upper()
    source = form.get("SourceIdentity")
    source_xml = f"<SourceIdentity>{source}</SourceIdentity>" if source else ""
    return (
        f'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>{source_xml}'
        f"<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/{name}/{session}</Arn>"
        f"<AssumedRoleId>AROAFAKE{uuid.uuid4().hex[:12].upper()}:{session}</AssumedRoleId></AssumedRoleUser>"
        f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>secret-{key}</SecretAccessKey>"
        f"<SessionToken>token-{key}</SessionToken><Expiration>{expires}</Expiration></Credentials>"
        f"</AssumeRoleResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        "</AssumeRoleResponse>"
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection_number = next(CONNECTIONS)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        url = urlparse(self.path)
        if url.path.startswith("/_script/"):
            with LOCK:
                SCRIPTS[url.path.rsplit("/", 1)[-1]].extend(json.loads(body))
            return self.answer(200, "{}")
        if url.path == "/_iam_delays":
            with LOCK:
                IAM_DELAYS.update(json.loads(body))
            return self.answer(200, "{}")
        form = {k: v[0] for k, v in parse_qs(body).items()}
        if form.get("Action", "").endswith("RolePolicy") or form.get("Action") == "ListRolePolicies":
            self.record("iam", form)
            return self.answer(*iam(form))
        self.record("sts", form)
        self.scripted("sts", lambda: (200, assume_role_success(form)))

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/_requests":
            with LOCK:
                return self.answer(200, json.dumps(RECEIVED))
        if url.path == "/_policies":
            with LOCK:
                return self.answer(200, json.dumps(POLICIES))
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.record("signin", query)
        self.scripted("signin", lambda: (200, json.dumps({"SigninToken": "fake-token"})))

    def record(self, kind, params):
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            RECEIVED.append(
                {"kind": kind, "params": params, "headers": headers, "connection": self.connection_number}
            )

    def scripted(self, kind, default):
        with LOCK:
            step = SCRIPTS[kind].pop(0) if SCRIPTS[kind] else None
        if step is None:
            return self.answer(*default())
        time.sleep(step.get("delay", 0))
        if step.get("drop"):
            self.close_connection = True
            return
        body = step.get("body")
        if body is None:
            _, body = default()
        body += " " * step.get("size", 0)
        self.answer(step.get("status", 200), body)
        if step.get("close"):
            self.close_connection = True

    def answer(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
