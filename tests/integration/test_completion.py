#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""rdqctl's bash completion driven as bash drives it (bash-completion loaded, COMP_WORDS,
COMP_CWORD, COMP_LINE and COMP_POINT set, the registered function called), with the built
rdqctl as the command, against daemons on sockets of their own:

- a real rdqd: without RDMA it has no endpoints and no pending requests, so its lists are
  empty;
- a stand-in daemon that speaks the protocol and answers ep.show (in two pages) and
  request.list with endpoints and requests rdqd would only have with RDMA; through the real
  rdqctl, the completion lists its handles. Which of the two answers shows which socket the
  completion used: an -s PATH on the line in each of its spellings, else rdqctl's default
  (for a user other than root: root's is the system service's, not the test's to take);
- no daemon, and a daemon that takes the connection but never answers: nothing is offered,
  nothing is printed, and the completion returns within its short -t.

Usage: test_completion.py SCRIPT   (RDQD and RDQCTL in the environment)
"""
import json
import os
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rdqctl_help import complete  # noqa: E402

# The stand-in's endpoints (small handles, as rdqd makes them; the first two share a first
# digit) and pending requests.
ENDPOINTS = [
    {"ep": 12, "qp": 0, "role": "listener", "state": "listening",
     "local": "10.0.0.1:7472", "parent": 0, "connections": 1, "max_connections": 1024},
    {"ep": 15, "qp": 16, "role": "passive", "state": "connected",
     "local": "10.0.0.1:7472", "remote": "10.0.0.2:51234", "parent": 12},
    {"ep": 31, "qp": 32, "role": "active", "state": "connected",
     "local": "[fe80::1]:50000", "remote": "[fe80::2]:7472", "parent": 0},
]
REQUESTS = [
    {"rid": 17, "id": 3, "op": "ep.recv", "state": "queued", "ep": 15, "age_ms": 1520,
     "uid": os.getuid(), "mine": False},
    {"rid": 21, "id": 1, "op": "ep.connect", "state": "queued", "ep": 33, "age_ms": 9,
     "uid": os.getuid(), "mine": False},
]
EPS = [str(e["ep"]) for e in ENDPOINTS]
QPS = [str(e["qp"]) for e in ENDPOINTS if e["qp"]]
RIDS = [str(r["rid"]) for r in REQUESTS]
QUICK_S = 2.0  # the completion's -t is 300 ms: well within this even on a busy machine


class StandIn(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A daemon that answers ep.show and request.list from the lists above, or (silent)
    takes connections and requests and never answers."""
    daemon_threads = True

    def __init__(self, path, silent=False):
        self.silent = silent
        super().__init__(path, Handler)


class Handler(socketserver.BaseRequestHandler):
    def read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def handle(self):
        while True:
            head = self.read(4)
            body = head and self.read(struct.unpack(">I", head)[0])
            if not body:
                return
            req = json.loads(body.split(b"\0")[0])
            args = req.get("args") or {}
            if self.server.silent:
                continue
            if req["op"] == "ep.show":
                # Two pages: the first ends after the second endpoint (the third endpoint
                # is offered only if rdqctl asked for the page after it).
                after = args.get("after", 0)
                rest = [e for e in ENDPOINTS if e["ep"] > after]
                result = {"endpoints": rest[:2]}
                if len(rest) > 2:
                    result["next"] = rest[1]["ep"]
            elif req["op"] == "request.list":
                result = {"requests": REQUESTS}
            else:
                result = None
            reply = {"v": req["v"], "id": req["id"]}
            if result is None:
                reply.update(ok=False, error={"errno": "EOPNOTSUPP", "code": 95,
                                              "message": "not in the stand-in"})
            else:
                reply.update(ok=True, result=result)
            out = json.dumps(reply).encode()
            self.request.sendall(struct.pack(">I", len(out)) + out)


def serve(path, silent=False):
    server = StandIn(path, silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_rdqd(rdqd, rdqctl, path, log):
    proc = subprocess.Popen([rdqd, "-s", path, "-v"], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while subprocess.run([rdqctl, "-s", path, "-t", "1000", "status"],
                         capture_output=True, check=False).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("rdqd did not start")
        time.sleep(0.05)
    return proc


class Cases:
    def __init__(self, script, rdqctl):
        self.script, self.rdqctl = script, rdqctl
        self.failed = self.passed = self.skipped = 0

    def skip(self, name, why):
        self.skipped += 1
        print(f"skip - {name}: {why}")

    def expect(self, name, want, *words, env=None, quick=False):
        """The completion of `rdqctl WORDS...` offers exactly want (in any order)."""
        try:
            got, took = complete(self.script, self.rdqctl, *words, env=env, timeout=10)
        except RuntimeError as e:
            got, took = [f"error: {e}"], 0
        why = []
        if sorted(got) != sorted(want):
            why.append(f"offers {sorted(got)}, want {sorted(want)}")
        if quick and took > QUICK_S:
            why.append(f"took {took:.2f} s")
        line = "rdqctl " + " ".join(words) + "<TAB>"
        if why:
            self.failed += 1
            print(f"FAIL - {name}: {line}: {'; '.join(why)}")
        else:
            self.passed += 1
            print(f"ok - {name}: {line}")


def main():
    script = sys.argv[1]
    rdqd, rdqctl = os.environ["RDQD"], os.environ["RDQCTL"]
    objects = ["cancel", "dev", "ep", "help", "monitor", "qp", "request", "stats", "status",
               "version"]
    ep_commands = ["connect", "destroy", "disconnect", "listen", "recv", "send", "serve", "show",
                   "help"]

    with tempfile.TemporaryDirectory(prefix="rdq-completion-") as tmp, \
            open(os.path.join(tmp, "rdqd.log"), "w+") as log:
        real = os.path.join(tmp, "real.sock")
        stand_in = os.path.join(tmp, "stand-in.sock")
        silent = os.path.join(tmp, "silent.sock")
        # rdqctl's default socket for this user, with XDG_RUNTIME_DIR pointing here.
        runtime = os.path.join(tmp, "runtime")
        os.makedirs(os.path.join(runtime, "rdq"), mode=0o700)
        os.chmod(runtime, 0o700)
        env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
        no_daemon_env = dict(env, XDG_RUNTIME_DIR=os.path.join(tmp, "nowhere"))

        rdqd_proc = start_rdqd(rdqd, rdqctl, real, log)
        lists, quiet = serve(stand_in), serve(silent, silent=True)
        default = serve(os.path.join(runtime, "rdq", "rdqd.sock"))
        t = Cases(script, rdqctl)
        try:
            t.expect("objects", objects, "")
            t.expect("an object's prefix", ["ep"], "e")
            t.expect("ep's commands", ep_commands, "ep", "")
            t.expect("a command's prefix", ["destroy", "disconnect"], "ep", "d")
            t.expect("a command's options", ["--qp", "--timeout", "--wait", "--help"],
                     "ep", "disconnect", "--")
            t.expect("options after the arguments", ["--qp", "--timeout", "--wait"],
                     "-s", stand_in, "ep", "disconnect", EPS[1], "")

            t.expect("ep send: the endpoints of -s PATH", EPS, "-s", stand_in, "ep", "send", "")
            t.expect("ep destroy: --socket PATH", EPS, "--socket", stand_in, "ep", "destroy", "")
            t.expect("ep recv: --socket=PATH", EPS, "--socket=" + stand_in, "ep", "recv", "")
            t.expect("ep send: --sock PATH, a prefix as getopt takes it", EPS, "--sock", stand_in,
                     "ep", "send", "")
            t.expect("ep show: -js PATH", EPS, "-js", stand_in, "ep", "show", "")
            t.expect("ep disconnect: -sPATH after -t", EPS, "-t", "100", "-s" + stand_in, "ep",
                     "disconnect", "")
            t.expect("prefixes: e sen", EPS, "-s", stand_in, "e", "sen", "")
            t.expect("handles by prefix", EPS[:2], "-s", stand_in, "ep", "destroy", "1")
            t.expect("a handle by prefix", EPS[2:], "-s", stand_in, "ep", "destroy", "3")
            t.expect("no second EP", [], "-s", stand_in, "ep", "destroy", EPS[0], "")
            t.expect("qp destroy: QP handles", QPS, "-s", stand_in, "qp", "destroy", "")
            t.expect("ep disconnect --qp: QP handles", QPS, "-s", stand_in, "ep", "disconnect",
                     EPS[1], "--qp", "")
            t.expect("cancel: request numbers", RIDS, "-s", stand_in, "cancel", "")
            if os.getuid() == 0:
                # root's default is the system service's socket, which is not the test's.
                t.skip("without -s: rdqctl's default socket", "root's is /run/rdq/rdqd.sock")
            else:
                t.expect("without -s: rdqctl's default socket", EPS, "ep", "send", "", env=env)
            t.expect("the last -s wins", EPS, "-s", real, "-s", stand_in, "ep", "send", "")

            # The real rdqd, without RDMA: no endpoints, no QPs, no pending requests.
            t.expect("rdqd: no endpoints", [], "-s", real, "ep", "send", "", quick=True)
            t.expect("rdqd: no QPs", [], "-s", real, "qp", "destroy", "", quick=True)
            t.expect("rdqd: no requests", [], "-s", real, "cancel", "", quick=True)
            t.expect("rdqd: ep destroy -s uses that socket", [], "-s", real, "ep", "destroy", "",
                     env=env, quick=True)

            t.expect("no daemon at -s", [], "-s", os.path.join(tmp, "none.sock"), "ep", "send",
                     "", quick=True)
            if os.getuid() != 0:
                t.expect("no daemon at the default socket", [], "ep", "send", "",
                         env=no_daemon_env, quick=True)
            t.expect("a daemon that never answers", [], "-s", silent, "ep", "send", "",
                     quick=True)

            t.expect("ep send EP @FILE", ["@" + os.path.join(tmp, "rdqd.log")], "ep", "send",
                     EPS[0], "@" + os.path.join(tmp, "rdqd."))
            t.expect("-s PATH: files", [stand_in], "-s", os.path.join(tmp, "stand-"))
        finally:
            for server in (lists, quiet, default):
                server.shutdown()
                server.server_close()
            rdqd_proc.send_signal(signal.SIGTERM)
            status = rdqd_proc.wait(timeout=30)
        if status != 0:
            t.failed += 1
            print(f"FAIL - rdqd exits 0: it exited {status}")
        if t.failed:
            log.seek(0)
            print("---- rdqd log ----\n" + log.read() + "---- end of rdqd log ----")
    print(f"{t.passed} passed, {t.failed} failed, {t.skipped} skipped")
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
