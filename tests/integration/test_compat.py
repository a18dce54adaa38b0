#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The wire, byte for byte: a real rdqd is sent recorded version 1 and
version 2 requests (every op, good and bad arguments, malformed frames,
attachments, unusual JSON that only jansson reads) and must answer each with
exactly the bytes an earlier rdqd answered, recorded in compat/exchanges.jsonl.

Values that differ from run to run by nature (pid, uptime, ages, the loop's
timings) and texts that name this machine's RDMA state are blanked in both
before they are compared; everything else, field order and spacing included,
must match. Exchanges marked "rdma": "none" expect a machine without RDMA
(their answers name it), and are skipped on one with RDMA.

Usage: test_compat.py                  (RDQD from the environment)
       test_compat.py --record RDQD    (writes compat/exchanges.jsonl from the
                                        requests below, as that rdqd answers)
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RECORD = os.path.join(HERE, "compat", "exchanges.jsonl")
VOLATILE = ["pid", "uptime_ms", "age_ms", "callbacks", "max_us", "sum_us", "run", "queued"]


def blank(text):
    """Blanks run-dependent values, keeping everything else as it is."""
    for key in VOLATILE:
        text = re.sub(rf'"{key}":-?\d+', f'"{key}":0', text)
    text = re.sub(r'"histogram_us":\[[\d,]*\]', '"histogram_us":[]', text)
    text = re.sub(r'"rdma_error":"(?:[^"\\]|\\.)*"', '"rdma_error":"-"', text)
    text = re.sub(r'("errno":"ENODEV","code":19,"message":)"(?:[^"\\]|\\.)*"', r'\1"-"', text)
    return text


def frame(body):
    return struct.pack(">I", len(body)) + body


def request(v, op, args=None, rid=1, attach=None, extra=""):
    """A request as a client writes it (compact JSON in this key order)."""
    text = '{"v":%d,"id":%d,"op":%s' % (v, rid, json.dumps(op))
    if args is not None:
        text += ',"args":' + json.dumps(args, separators=(",", ":"))
    if attach is not None:
        text += ',"attachment":%d' % len(attach)
    text += extra + "}"
    body = text.encode()
    if attach is not None:
        body += b"\0" + attach
    return body


def requests():
    """Every request of the record, with its tags: (body, rdma-dependent)."""
    out = []
    for v in (1, 2):
        out += [(request(v, op), False) for op in
                ("version", "status", "watch", "ep.show", "request.list", "stats")]
        out += [(request(v, "watch", {"on": False}), False),
                (request(v, "watch", {"on": "no"}), False),
                (request(v, "ep.show", {"ep": 7}), False),
                (request(v, "ep.show", {"limit": 0}), False),
                (request(v, "ep.show", {"limit": 201}), False),
                (request(v, "ep.show", {"after": -1}), False),
                (request(v, "ep.show", {"ep": None, "limit": 5}), False),
                (request(v, "request.list", {"limit": 2, "after": 3}), False),
                (request(v, "cancel"), False),
                (request(v, "cancel", {"req": 4}), False),
                (request(v, "cancel", {"rid": 4}), False),
                (request(v, "cancel", {"req": 1, "rid": 2}), False),
                (request(v, "cancel", {"rid": 0}), False),
                (request(v, "ep.destroy"), False),
                (request(v, "ep.destroy", {"ep": 0}), False),
                (request(v, "ep.destroy", {"ep": -3}), False),
                (request(v, "ep.destroy", {"ep": "3"}), False),
                (request(v, "ep.destroy", {"ep": 3.0}), False),
                (request(v, "ep.destroy", {"ep": 3}), False),
                (request(v, "ep.destroy", {"ep": 3, "unknown": [1, {"a": 2}]}), False),
                (request(v, "qp.destroy", {"qp": 5}), False),
                (request(v, "qp.destroy", {}), False),
                (request(v, "ep.recv", {"ep": 2, "timeout_ms": -1}), False),
                (request(v, "ep.recv", {"ep": 2}), False),
                (request(v, "ep.recv", {"ep": 2, "timeout_ms": 3600001}), False),
                (request(v, "ep.send", {"ep": 2}), False),
                (request(v, "ep.send", {"ep": 2, "data": "hi"}), False),
                (request(v, "ep.send", {"ep": 2, "data": "h\u00e9\\n\"x"}), False),
                (request(v, "ep.send", {"ep": 2, "data": 5}), False),
                (request(v, "ep.send", {"ep": 2, "data": "x", "wait": 1}), False),
                (request(v, "ep.sendrecv", {"ep": 2, "data": "x", "timeout_ms": 10}), False),
                (request(v, "ep.disconnect", {"ep": 2, "qp": "x"}), False),
                (request(v, "ep.disconnect", {"ep": 2, "timeout_ms": 0}), False),
                (request(v, "ep.disconnect", {"ep": 2, "wait": False}), False),
                (request(v, "ep.listen"), False),
                (request(v, "ep.listen", {"addr": ""}), False),
                (request(v, "ep.listen", {"addr": "a" * 64}), False),
                (request(v, "ep.listen", {"addr": "127.0.0.1", "port": 0}), False),
                (request(v, "ep.listen", {"addr": "127.0.0.1", "port": "x"}), False),
                (request(v, "ep.listen", {"addr": "127.0.0.1", "backlog": 4097}), False),
                (request(v, "ep.listen", {"addr": "127.0.0.1", "max_connections": 0}), False),
                (request(v, "ep.listen", {"addr": "127.0.0.1", "mode": "other"}), False),
                (request(v, "ep.listen", {"addr": "127.0.0.1", "mode": 1}), False),
                (request(v, "ep.listen", {"addr": "127.0.0.1", "tied": "yes"}), False),
                (request(v, "ep.listen", {"addr": 127}), False),
                (request(v, "ep.connect", {"addr": "127.0.0.1", "timeout_ms": 0}), False),
                (request(v, "ep.connect", {"port": 7472}), False),
                (request(v, "nope"), False),
                (request(v, "ep.show\u0000x"), False),
                (request(v, "x" * 100), False),
                (request(v, "version", extra=',"other":1'), False),
                (request(v, "version", extra=',"v":1'), False),
                (request(v, "ep.show", {"ep": 1, "ep2": 2}, extra=',"more":"\\u00e9"'), False),
                # Environment: these name the RDMA state.
                (request(v, "dev.show"), True),
                (request(v, "ep.listen", {"addr": "127.0.0.1"}), True),
                (request(v, "ep.listen", {"addr": "127.0.0.1", "mode": "serve"}), True),
                (request(v, "ep.connect", {"addr": "127.0.0.1", "tied": True}), True)]
    # Version 2 only: attachments.
    out += [(request(2, "ep.send", {"ep": 2}, attach=b"\x00\xffbytes"), False),
            (request(2, "ep.send", {"ep": 2, "data": "x"}, attach=b"y"), False),
            (request(2, "ep.sendrecv", {"ep": 2}, attach=b"z"), False),
            (request(2, "ep.send", {"ep": 2}, extra=',"attachment":3'), False),
            (request(1, "ep.send", {"ep": 2}, attach=b"y"), False),
            (b'{"v":2,"id":1,"op":"ep.send","args":{"ep":2},"attachment":9}\0abc', False)]
    # Frames that are not good requests.
    out += [(b, False) for b in (
        b"{", b"[]", b"null", b'{"v":1,"op":"version"}', b'{"v":1,"id":-1,"op":"version"}',
        b'{"id":1,"op":"version"}', b'{"v":3,"id":1,"op":"version"}',
        b'{"v":"1","id":1,"op":"version"}', b'{"v":1,"id":1}', b'{"v":1,"id":1,"op":5}',
        b'{"v":1,"id":1,"op":"version","args":[]}', b'{"v":1,"id":1,"op":"version","id":2}',
        b'{"v":1,"id":1.5,"op":"version"}', b'{"v":1,"id":99999999999999999999,"op":"version"}',
        b' {"v" : 1 , "id" : 7 , "op" : "version" } ', b'{"v":1,"id":7,"op":"version"} x',
        b'{"v":1,"id":7,"op":"ep.destroy","args":{"ep":1,"ep":2}}',
        b'{"v":1,"id":7,"op":"ep.destroy","args":{"ep":null,"ep":2}}',
        b'{"v":1,"id":7,"op":"ep.destroy","args":{"ep":01}}',
        b'{"v":1,"id":7,"op":"\\u0065p.destroy","args":{"ep":4}}',
        b'{"v":1,"id":7,"op":"version","args":{"x":{"y":[1,2]}}}',
        b'{"v":1,"id":7,"op":"ep.show","args":{"limit":1e2}}',
        b'{"v":1,"id":7,"op":"ep.show","args":{"limit":-0}}',
        b'{"v":1,"id":7,"op":"ep.listen","args":{"addr":"\xc3\xa9"}}',
        b'{"v":1,"id":7,"op":"ep.listen","args":{"addr":"\xff"}}',
        b'{"v":1,"id":7,"op":"version\xff"}')]
    # Counters after all of it: every request above counted the same way.
    out += [(request(2, "stats"), False), (request(1, "status"), False)]
    # Listeners that wait for their address (TEST-NET-1's, on no interface): made waiting and
    # shown with why; a name, or a wait_address that is no bool, refused. After the counters,
    # which they move; their handles depend on the endpoints RDMA let the requests above make.
    out += [(request(2, "ep.listen", {"addr": "192.0.2.1", "port": 7500, "wait_address": True}),
             True),
            (request(2, "ep.show", {"ep": 1}), True),
            (request(1, "ep.listen", {"addr": "localhost", "wait_address": True}), False),
            (request(1, "ep.listen", {"addr": "192.0.2.1", "wait_address": 1}), False)]
    # Address rules: a listener that admits 10.1/16 alone, shown with its prefixes; a bad
    # prefix named, one that is no string, and more than 64 refused before any RDMA is asked.
    out += [(request(2, "ep.listen", {"addr": "192.0.2.2", "port": 7500, "wait_address": True,
                                      "allow": "10.1.0.0/16, fd00::1", "deny": "any"}), True),
            (request(2, "ep.show", {"ep": 2}), True),
            (request(2, "ep.listen", {"addr": "127.0.0.1", "allow": "10.0.0.0/33"}), False),
            (request(2, "ep.listen", {"addr": "127.0.0.1", "deny": 7}), False),
            (request(2, "ep.listen", {"addr": "127.0.0.1",
                                      "deny": ",".join(f"10.{i}.0.0/16" for i in range(65))}),
             False)]
    return out


class Daemon:
    def __init__(self, rdqd):
        self.dir = tempfile.mkdtemp(prefix="rdq-compat-")
        self.path = os.path.join(self.dir, "rdqd.sock")
        self.log = open(os.path.join(self.dir, "rdqd.log"), "w")
        self.proc = subprocess.Popen([rdqd, "--no-config", "--workers", "2", "-s", self.path], stderr=self.log)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.path):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                sys.exit("rdqd did not start")
            time.sleep(0.02)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)
        self.sock.settimeout(10)

    def read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                sys.exit("rdqd closed the connection")
            data += chunk
        return data

    def exchange(self, body):
        self.sock.sendall(frame(body))
        (n,) = struct.unpack(">I", self.read(4))
        return self.read(n)

    def stop(self):
        self.sock.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def reply_record(reply):
    text, _, attach = reply.partition(b"\0")
    return {"reply": text.decode(), "reply_attach": attach.hex() if b"\0" in reply else None}


def record(rdqd):
    d = Daemon(rdqd)
    with open(RECORD, "w") as out:
        for body, env in requests():
            line = {"request": body.decode("latin-1"), "rdma": "none" if env else "any"}
            line.update(reply_record(d.exchange(body)))
            out.write(json.dumps(line, ensure_ascii=True) + "\n")
    d.stop()
    return 0


def replay(rdqd):
    d = Daemon(rdqd)
    passed = failed = skipped = 0
    with open(RECORD) as f:
        lines = [json.loads(line) for line in f]
    answers = [reply_record(d.exchange(line["request"].encode("latin-1"))) for line in lines]
    # Asked last, so that the counters the record shows are not moved by it.
    has_rdma = json.loads(d.exchange(request(1, "status", rid=0)))["result"]["rdma"]
    for line, got in zip(lines, answers):
        if line["rdma"] == "none" and has_rdma:
            skipped += 1
            continue
        want_text, got_text = blank(line["reply"]), blank(got["reply"])
        if want_text == got_text and line["reply_attach"] == got["reply_attach"]:
            passed += 1
        else:
            failed += 1
            print(f"FAIL: {line['request']!r}\n  want {want_text}\n  got  {got_text}")
    d.stop()
    print(f"{passed} passed, {failed} failed, {skipped} skipped"
          + (" (this machine has RDMA)" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--record":
        sys.exit(record(sys.argv[2]))
    sys.exit(replay(os.environ["RDQD"]))
