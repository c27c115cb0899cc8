"""Runs moto's server on 127.0.0.1:PORT until standard input closes, so a
test process that dies never leaves it behind.

usage: moto_server.py PORT
"""

import sys

from moto.server import ThreadedMotoServer

if __name__ == "__main__":
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
    server.start()
    sys.stdin.read()
    server.stop()
