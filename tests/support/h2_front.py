"""An HTTP/2-only TLS front for the fake AWS that can refuse a request the
way HTTP/2 servers do when they shed or close a connection: a GOAWAY whose
last stream id lies below the request (then the connection closes), or an
RST_STREAM with REFUSED_STREAM. Either way the request was not processed
(RFC 9113, section 8.7), so a client may send it again. Every other request
is passed to the upstream over HTTP/1.1 and its answer relayed.

usage: h2_front.py PORT CONTROL_PORT CERT KEY UPSTREAM   (runs until standard input closes)
  control, plain HTTP/1.1 on CONTROL_PORT:
  POST /_refuse   JSON {"skip": N, "how": "goaway" | "reset"}: pass N more
                  requests, then refuse the next one
  GET  /_log      [{"connection", "stream", "path", "outcome"}], where outcome
                  is "answered", "goaway" or "reset"
"""

import http.client
import itertools
import json
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import h2.config
import h2.connection
import h2.errors
import h2.events

LOCK = threading.Lock()
REFUSAL = {}  # {"skip": N, "how": ...} while one is pending
LOG = []
CONNECTIONS = itertools.count(1)


def refusal_for_next_request():
    """The refusal this request gets, if it is the one scripted."""
    with LOCK:
        if not REFUSAL:
            return None
        if REFUSAL["skip"] > 0:
            REFUSAL["skip"] -= 1
            return None
        how = REFUSAL["how"]
        REFUSAL.clear()
        return how


def relay(upstream, method, path, headers, body):
    """The upstream's answer to the request, as (status, headers, body)."""
    target = urlparse(upstream)
    client = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    forwarded = {k: v for k, v in headers if not k.startswith(":")}
    forwarded["content-length"] = str(len(body))
    client.request(method, path, body=body, headers=forwarded)
    answer = client.getresponse()
    data = answer.read()
    client.close()
    kept = [(k.lower(), v) for k, v in answer.getheaders() if k.lower() == "content-type"]
    return answer.status, kept, data


def serve_connection(sock, upstream):
    number = next(CONNECTIONS)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    requests = {}  # stream id -> [headers, body]
    last_answered = 0
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    requests[event.stream_id] = [event.headers, b""]
                elif isinstance(event, h2.events.DataReceived):
                    requests[event.stream_id][1] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    headers, body = requests.pop(event.stream_id)
                    pseudo = dict(headers)
                    record = {"connection": number, "stream": event.stream_id, "path": pseudo[":path"]}
                    how = refusal_for_next_request()
                    if how == "goaway":
                        conn.close_connection(error_code=h2.errors.ErrorCodes.NO_ERROR, last_stream_id=last_answered)
                    elif how == "reset":
                        conn.reset_stream(event.stream_id, error_code=h2.errors.ErrorCodes.REFUSED_STREAM)
                    else:
                        status, kept, answer = relay(upstream, pseudo[":method"], pseudo[":path"], headers, body)
                        conn.send_headers(
                            event.stream_id,
                            [(":status", str(status)), ("content-length", str(len(answer)))] + kept,
                        )
                        conn.send_data(event.stream_id, answer, end_stream=True)
                        last_answered = event.stream_id
                    with LOCK:
                        LOG.append({**record, "outcome": how or "answered"})
                    sock.sendall(conn.data_to_send())
                    if how == "goaway":
                        return
                elif isinstance(event, h2.events.ConnectionTerminated):
                    return
            sock.sendall(conn.data_to_send())
    except (OSError, ssl.SSLError):
        return
    finally:
        sock.close()


class Control(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with LOCK:
            REFUSAL.clear()
            REFUSAL.update(json.loads(body))
        self.answer("{}")

    def do_GET(self):
        with LOCK:
            self.answer(json.dumps(LOG))

    def answer(self, body):
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    port, control_port, cert, key, upstream = sys.argv[1:6]
    control = ThreadingHTTPServer(("127.0.0.1", int(control_port)), Control)
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, daemon=True).start()

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    tls.set_alpn_protocols(["h2"])
    listener = socket.create_server(("127.0.0.1", int(port)))

    def accept_forever():
        while True:
            raw, _ = listener.accept()
            try:
                sock = tls.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                raw.close()
                continue
            threading.Thread(target=serve_connection, args=(sock, upstream), daemon=True).start()

    threading.Thread(target=accept_forever, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
