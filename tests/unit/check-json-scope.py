#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The loop's JSON arena (daemon/json_arena.c) takes back everything made in a
scope when the scope ends, whatever its reference count. So rdqd must not keep
a JSON value past the request or event it was made for. This checks the two
ways one could be kept: a json_incref() anywhere in daemon/, and a json_t
member of a struct, other than those listed here (made and used outside any
scope). A sanitizer cannot see such an escape: the reads happen inside
jansson, which is not instrumented.

Usage: check-json-scope.py SOURCE_ROOT
"""
import pathlib
import re
import sys

# struct member -> why it may hold a JSON value
ALLOWED = {
    ("rdqd.h", "devices"): "the device list: built by a scan on a worker, kept on the loop "
                           "outside any scope",
    ("device.c", "names"): "a scan's result, built on a worker",
    ("ops.h", "args"): "struct op_input: borrowed for the handler's run, inside the scope",
    ("control.c", "event"): "struct broadcast_ctx: one broadcast's event, on the stack for the "
                            "call",
}

STRUCT_START = re.compile(r"^(?:static\s+)?struct\s+\w+\s*\{")
MEMBER = re.compile(r"^\s+(?:const\s+)?json_t\s*\*\s*(\w+)\s*;")


def main():
    root = pathlib.Path(sys.argv[1]) / "daemon"
    bad = []
    for path in sorted(root.rglob("*.[ch]")):
        depth = 0
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//")[0]
            if "json_incref(" in code and not code.lstrip().startswith("*"):
                bad.append(f"{path.relative_to(root.parent)}:{n}: json_incref keeps a value "
                           "past its scope")
            if depth == 0 and STRUCT_START.match(line):
                depth = 1
                continue
            if depth:
                m = MEMBER.match(line)
                if m and (path.name, m.group(1)) not in ALLOWED:
                    bad.append(f"{path.relative_to(root.parent)}:{n}: struct member json_t "
                               f"*{m.group(1)} may outlive the scope it was made in; copy "
                               "what is needed, or list it in this check with why")
                depth += line.count("{") - line.count("}")
    for b in bad:
        print(b)
    print(f"check-json-scope: {len(bad)} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
