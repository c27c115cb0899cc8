"""The broker people write today, for comparison: a single-threaded HTTP
server that does the same grant with boto3 (hop 1 with the external id,
hop 2 with the user's email as session name, getSigninToken, login URL).

usage: boto3_broker.py PORT STS_ENDPOINT FEDERATION_ENDPOINT RESOURCE_ROLE TARGET_ROLE EXTERNAL_ID
  POST /v1/resources/<r>/accounts/<a>/access  (x-pam-user: EMAIL) -> {"url": ...}
"""

import json
import socket
import sys
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3

PORT, STS, FEDERATION, RESOURCE_ROLE, TARGET_ROLE, EXTERNAL_ID = sys.argv[1:7]
# One session: its loaded service model makes a client per grant cheap (~4 ms
# instead of ~19 ms for boto3.client()).
SESSION = boto3.session.Session()
BASE = SESSION.client("sts", endpoint_url=STS, region_name="us-east-1")


class Handler(BaseHTTPRequestHandler):
    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and the
        # client's delayed ACK add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        user = self.headers["x-pam-user"]
        hop1 = BASE.assume_role(
            RoleArn=RESOURCE_ROLE, RoleSessionName="pam-broker", ExternalId=EXTERNAL_ID
        )["Credentials"]
        chained = SESSION.client(
            "sts",
            endpoint_url=STS,
            region_name="us-east-1",
            aws_access_key_id=hop1["AccessKeyId"],
            aws_secret_access_key=hop1["SecretAccessKey"],
            aws_session_token=hop1["SessionToken"],
        )
        hop2 = chained.assume_role(RoleArn=TARGET_ROLE, RoleSessionName=user, DurationSeconds=900)[
            "Credentials"
        ]
        session = json.dumps(
            {
                "sessionId": hop2["AccessKeyId"],
                "sessionKey": hop2["SecretAccessKey"],
                "sessionToken": hop2["SessionToken"],
            }
        )
        query = urllib.parse.urlencode({"Action": "getSigninToken", "Session": session})
        with urllib.request.urlopen(f"{FEDERATION}?{query}") as answer:
            token = json.load(answer)["SigninToken"]
        login = urllib.parse.urlencode(
            {
                "Action": "login",
                "Issuer": "pam-aws-bench",
                "Destination": "https://console.aws.amazon.com/",
                "SigninToken": token,
            }
        )
        body = json.dumps({"url": f"{FEDERATION}?{login}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


HTTPServer(("127.0.0.1", int(PORT)), Handler).serve_forever()
