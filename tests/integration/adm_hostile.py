#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Hostile clients of idmd's control socket (tests/integration/t_idmadm.sh).

adm_hostile.py SOCKET: every case must get the JSON-RPC error the specification
names (or be closed), and the socket must still answer a good request after each.
Prints one line per case; exits 1 on the first failure.
"""
import json
import socket
import sys
import time

PATH = sys.argv[1]


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(15)
    s.connect(PATH)
    return s


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    return json.loads(buf)


def closed(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def expect_error(name, data, code, then_closed=False):
    s = connect()
    try:
        s.sendall(data)
    except OSError:
        pass  # the server stopped reading a request it refused
    resp = read_line(s)
    if resp is None:
        fail(f"{name}: no response")
    err = resp.get("error", {})
    if err.get("code") != code:
        fail(f"{name}: expected error {code}, got {resp}")
    if then_closed and not closed(s):
        fail(f"{name}: connection left open")
    s.close()
    print(f"{name}: error {code} ({err.get('message')})")


def still_serves():
    s = connect()
    s.sendall(b'{"jsonrpc":"2.0","method":"version","id":7}\n')
    resp = read_line(s)
    s.close()
    if not resp or resp.get("id") != 7 or "result" not in resp:
        fail(f"the socket no longer answers: {resp}")


def req(method, params=None, rid=1):
    r = {"jsonrpc": "2.0", "method": method, "id": rid}
    if params is not None:
        r["params"] = params
    return (json.dumps(r) + "\n").encode()


cases = [
    ("malformed JSON", b'{"jsonrpc": "2.0", "method": }\n', -32700, True),
    ("not JSON at all", b"\x00\xff\xfe garbage\n", -32700, True),
    ("nesting 1000 deep", b"[" * 1000 + b"\n", -32700, True),
    ("two values on a line", b'{"jsonrpc":"2.0","method":"status","id":1} {}\n', -32700, True),
    ("huge request", b'{"jsonrpc":"2.0","method":"status","params":{"x":"' + b"A" * 200000,
     -32600, True),
    ("batch", b'[{"jsonrpc":"2.0","method":"status","id":1}]\n', -32600, False),
    ("not an object", b'"status"\n', -32600, False),
    ("wrong version", b'{"jsonrpc":"1.0","method":"status","id":1}\n', -32600, False),
    ("unknown method", req("target.explode"), -32601, False),
    ("tsih of the wrong type", req("session.logout", {"tsih": "1"}), -32602, False),
    ("target of the wrong type", req("lun.list", {"target": 5}), -32602, False),
    ("params not an object", req("stats", ["prometheus"]), -32602, False),
    ("unknown parameter", req("status", {"verbose": True}), -32602, False),
    ("tsih out of range", req("session.logout", {"tsih": 70000}), -32602, False),
    ("bad log level", req("log.level", {"level": "loud"}), -32602, False),
]
for name, data, code, then_closed in cases:
    expect_error(name, data, code, then_closed)
    still_serves()

# Two requests in one write, and one split across writes: both answered in order.
s = connect()
s.sendall(req("version", rid=1) + req("status", rid=2)[:10])
time.sleep(0.2)
s.sendall(req("status", rid=2)[10:])
f = s.makefile("rb")
ids = [json.loads(f.readline()).get("id"), json.loads(f.readline()).get("id")]
s.close()
if ids != [1, 2]:
    fail(f"pipelined requests: ids {ids}")
print("pipelined and split requests: answered in order")

# A client that connects and never sends is closed (after 5 s), and others are
# served meanwhile.
silent = connect()
start = time.monotonic()
still_serves()
if not closed(silent):
    fail("silent client: not closed")
took = time.monotonic() - start
if not 3 <= took <= 10:
    fail(f"silent client closed after {took:.1f}s (expected about 5)")
print(f"silent client: closed after {took:.1f}s")

# More clients than the server keeps (16): the extra ones are refused, and it
# still serves once they go.
many = []
for _ in range(24):
    many.append(connect())
    time.sleep(0.02)
refused = 0
for s in many:
    s.settimeout(0.5)
    try:
        data = s.recv(4096)
        if data and b"too many" in data:
            refused += 1
    except socket.timeout:
        pass
for s in many:
    s.close()
if refused != 24 - 16:
    fail(f"{refused} of 24 simultaneous clients refused (expected 8)")
time.sleep(0.2)
still_serves()
print("24 simultaneous clients: 8 refused, still serving")
