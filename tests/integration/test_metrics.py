#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Prometheus metrics, both ways: `rdqctl stats --prometheus` and rdqd's
--metrics endpoint. A real rdqd on a temporary socket and a free local port;
each text must pass `promtool check metrics` without a word, and this test's
own reading of the format: a # HELP and a # TYPE for every metric, counters
ending in _total, nothing untyped (a stats field the exposition does not
know), the loop histogram cumulative with _count equal to the +Inf bucket.
Then the values: requests counted and growing between two scrapes. And the
endpoint's HTTP (404, 405, the Content-Type), a bad --metrics value, a port
in use.

Without promtool (Debian's package prometheus; scripts/setup installs it)
the rest still runs, and the test reports itself skipped (77).

Usage: test_metrics.py   (RDQD and RDQCTL from the environment)
"""
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

RDQD = os.environ["RDQD"]
RDQCTL = os.environ["RDQCTL"]
START_S = 10  # generous: a deadline is only a bound
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)
    return ok


class Daemon:
    """rdqd on a socket in a fresh folder; stderr in a log there."""

    def __init__(self, *extra):
        self.dir = tempfile.mkdtemp(prefix="rdq-metrics-")
        self.socket = os.path.join(self.dir, "rdqd.sock")
        self.log = os.path.join(self.dir, "rdqd.log")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([RDQD, "-s", self.socket, *extra], stderr=log)

    def wait_ready(self):
        """True once the control socket accepts; False if rdqd exited first."""
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(self.socket)
                    return True
                except OSError:
                    time.sleep(0.02)
        return False

    def wait_exit(self):
        try:
            return self.proc.wait(START_S)
        except subprocess.TimeoutExpired:
            return None

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def rdqctl(self, *args):
        return subprocess.run([RDQCTL, "-s", self.socket, *args], capture_output=True,
                              text=True, timeout=START_S)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            if self.wait_exit() is None:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port():
    """A port nothing listens on now (the kernel's pick; another may take it, rarely)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_request(port, method, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=START_S)
    try:
        conn.request(method, path, body=b"x" if method == "POST" else None)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        conn.close()


def promtool_check(text, what):
    """promtool check metrics: exit 0 and not a word on either stream. None without it."""
    promtool = shutil.which("promtool")
    if not promtool:
        return None
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    return check(r.returncode == 0 and not r.stdout and not r.stderr,
                 f"promtool check metrics on {what}: exit {r.returncode}\n{r.stdout}{r.stderr}")


def parse(text, what):
    """{name: type}, and [(name, {label: value}, value)], checking the format as it goes."""
    types, helps, samples = {}, set(), []
    check(text.endswith("\n"), f"{what}: the text ends with a newline")
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            check(name not in helps, f"{what}:{n}: a second # HELP for {name}")
            helps.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            check(name not in types, f"{what}:{n}: a second # TYPE for {name}")
            check(name in helps, f"{what}:{n}: # TYPE {name} without a # HELP before it")
            types[name] = kind
        else:
            m = SAMPLE.match(line)
            if not check(m, f"{what}:{n}: not a sample line: {line!r}"):
                continue
            name, labels, value = m.group(1), m.group(2), m.group(3)
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            family = family if types.get(family) == "histogram" else name
            check(family in types, f"{what}:{n}: {name} has no # TYPE before it")
            check(value == "+Inf" or re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value),
                  f"{what}:{n}: {value!r} is not a number")
            samples.append((name, dict(LABEL.findall(labels or "")), float(value)))
    for name, kind in types.items():
        check(name.startswith("rdq_"), f"{what}: {name} lacks the rdq_ prefix")
        check(kind in ("counter", "gauge", "histogram"),
              f"{what}: {name} is {kind}: a stats field the exposition does not describe")
        check((kind == "counter") == name.endswith("_total"),
              f"{what}: {name} is a {kind}: only counters end in _total, and all do")
    return types, samples


def value(samples, name, **labels):
    found = [v for n, l, v in samples if n == name and l == labels]
    check(len(found) == 1, f"one sample {name}{labels}, not {len(found)}")
    return found[0] if found else -1


def check_histogram(samples, what):
    name = "rdq_loop_callback_duration_seconds"
    buckets = [(l["le"], v) for n, l, v in samples if n == name + "_bucket"]
    if not check(len(buckets) >= 2, f"{what}: {name} has buckets"):
        return
    check(buckets[-1][0] == "+Inf", f"{what}: the last bucket is +Inf")
    bounds = [float(le) for le, _ in buckets[:-1]]
    check(bounds == sorted(bounds) and len(set(bounds)) == len(bounds),
          f"{what}: bucket bounds increase: {bounds}")
    check(bounds[0] == 0.000001 and all(b == a * 2 for a, b in zip(bounds, bounds[1:])),
          f"{what}: bucket bounds are powers of two microseconds: {bounds}")
    counts = [v for _, v in buckets]
    check(all(a <= b for a, b in zip(counts, counts[1:])),
          f"{what}: buckets are cumulative: {counts}")
    check(value(samples, name + "_count") == counts[-1],
          f"{what}: _count equals the +Inf bucket")
    check(counts[-1] > 0, f"{what}: the loop ran callbacks")
    check(value(samples, name + "_sum") > 0, f"{what}: _sum is above 0")


def check_text(text, what):
    """Everything a text must be; returns its samples and types."""
    promtool_check(text, what)
    types, samples = parse(text, what)
    check_histogram(samples, what)
    return types, samples


def test_scrapes(d, port):
    check(d.rdqctl("status").returncode == 0, "rdqctl status")
    check(d.rdqctl("version").returncode == 0, "rdqctl version")
    check(d.rdqctl("ep", "destroy", "999").returncode == 1, "rdqctl ep destroy 999 fails")

    r = d.rdqctl("stats", "--prometheus")
    check(r.returncode == 0 and not r.stderr, f"rdqctl stats --prometheus: {r.stderr}")
    ctl_types, ctl = check_text(r.stdout, "rdqctl stats --prometheus")
    check(value(ctl, "rdq_requests_received_total") >= 4, "rdqctl: requests were counted")
    check(value(ctl, "rdq_requests_completed_by_status_total", status="ENOENT") >= 1,
          "rdqctl: the failed request counted as ENOENT")
    check(value(ctl, "rdq_clients_open") >= 1, "rdqctl: its own connection is open")

    status, headers, first = http_request(port, "GET", "/metrics")
    check(status == 200, f"GET /metrics: {status}")
    check(headers.get("Content-Type") == CONTENT_TYPE,
          f"GET /metrics: Content-Type {headers.get('Content-Type')!r}")
    http_types, one = check_text(first, "GET /metrics")
    check(http_types == ctl_types, "rdqctl and the endpoint show the same metrics: "
          f"{sorted(set(http_types.items()) ^ set(ctl_types.items()))}")

    check(d.rdqctl("status").returncode == 0, "rdqctl status")
    _, _, second = http_request(port, "GET", "/metrics?from=test")
    _, two = check_text(second, "the second GET /metrics")
    received = [value(s, "rdq_requests_received_total") for s in (one, two)]
    check(0 < received[0] < received[1], f"requests received grow between scrapes: {received}")
    callbacks = [value(s, "rdq_loop_callback_duration_seconds_count") for s in (one, two)]
    check(callbacks[0] < callbacks[1], f"loop callbacks grow between scrapes: {callbacks}")

    status, _, _ = http_request(port, "GET", "/")
    check(status == 404, f"GET /: {status}")
    status, _, _ = http_request(port, "GET", "/metrics/more")
    check(status == 404, f"GET /metrics/more: {status}")
    status, headers, _ = http_request(port, "POST", "/metrics")
    check(status == 405 and headers.get("Allow") == "GET",
          f"POST /metrics: {status}, Allow {headers.get('Allow')!r}")


def test_bad_values():
    for bad in ("localhost:9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:9464",
                "[::1]", "127.0.0.1:x", ":9464", "127.0.0.1:-1",
                "127.0.0.1: 80", "127.0.0.1:+80", "[127.0.0.1]:80"):
        r = subprocess.run([RDQD, "-s", "/nonexistent/rdqd.sock", "--metrics", bad],
                           capture_output=True, text=True, timeout=START_S)
        check(r.returncode == 2 and f'rdqd: --metrics: "{bad}" is not ADDR:PORT' in r.stderr,
              f"--metrics {bad}: exit {r.returncode}, {r.stderr!r}")


def test_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        d = Daemon("--metrics", f"127.0.0.1:{port}")
        try:
            code = d.wait_exit()
            log = d.log_text()
            check(code == 1 and f"cannot serve metrics on 127.0.0.1:{port}: Address already "
                  "in use" in log, f"a port in use: exit {code}, log:\n{log}")
            check(not os.path.exists(d.socket), "a failed start leaves no control socket")
        finally:
            d.stop()


def main():
    port = free_port()
    d = Daemon("--metrics", f"127.0.0.1:{port}")
    try:
        if check(d.wait_ready(), f"rdqd starts with --metrics 127.0.0.1:{port}"):
            test_scrapes(d, port)
        d.proc.terminate()
        check(d.wait_exit() == 0, "rdqd exits 0 on SIGTERM")
        if failures:
            print(d.log_text(), file=sys.stderr)
    finally:
        d.stop()
    test_bad_values()
    test_port_in_use()

    if failures:
        print(f"test_metrics: {len(failures)} failure(s)")
        return 1
    if not shutil.which("promtool"):
        print("test_metrics: passed, but promtool is missing (Debian: prometheus); skipped")
        return 77
    print("test_metrics: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
