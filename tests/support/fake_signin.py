"""A stand-in for the AWS sign-in federation endpoint, which nothing offline
implements. It answers getSigninToken like AWS does (and refuses
SessionDuration, as AWS does for role-chained credentials), and records
every request so tests can see what was sent.

usage: fake_signin.py PORT [--until-stdin-closes]
  GET /federation?Action=getSigninToken&Session=…  -> {"SigninToken": "…"}
  GET /federation?Action=login&…                   -> a page (where console URLs land)
  GET /_requests                                   -> the recorded requests (with Referer)
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

RECORDED = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/_requests":
            return self.answer(200, RECORDED)
        RECORDED.append({"path": url.path, "query": query, "referer": self.headers.get("Referer")})
        if url.path == "/federation" and query.get("Action") == "login":
            # Where a console URL lands: a page, as AWS's would be.
            return self.page("<!doctype html><title>AWS console (fake)</title><h1>Signed in</h1>")
        if url.path != "/federation" or query.get("Action") != "getSigninToken":
            return self.answer(400, {"error": "unsupported request"})
        if "SessionDuration" in query:
            return self.answer(400, {"error": "Invalid Credentials Parameter"})
        try:
            session = json.loads(query["Session"])
            key_id = session["sessionId"]
            assert session["sessionKey"] and session["sessionToken"]
        except (KeyError, ValueError, AssertionError):
            return self.answer(400, {"error": "bad Session parameter"})
        self.answer(200, {"SigninToken": f"token-for-{key_id}"})

    def answer(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def page(self, html: str) -> None:
        data = html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    if "--until-stdin-closes" in sys.argv:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()
    else:
        server.serve_forever()
