#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""rdqctl's bash completion against rdqctl's help, both ways, so the two cannot drift apart:
`rdqctl -<TAB>` offers exactly the global options `rdqctl help` lists, `rdqctl <TAB>` its
objects, `rdqctl OBJECT <TAB>` its commands (and help), `rdqctl OBJECT COMMAND -<TAB>` the
options of that command's usage (and --help); after an option that takes a value the value's
kind is completed (a QP handle, a FILE, nothing for a number), never the options; and each
positional argument of a usage line gets its kind: handles for EP and QP, request numbers for
RID, files after @ for @FILE, nothing for an address. Handles come from a stand-in for rdqctl
that prints fixed lists, so no daemon is needed.

Usage: check-completion.py SCRIPT RDQCTL   (SCRIPT: the completion script)
"""
import os
import re
import stat
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rdqctl_help import (command_usage, complete, global_options, options_of,  # noqa: E402
                         rdqctl_commands)

# What the stand-in's lists hold, by the kind of argument that takes them.
HANDLES = {"EP": ["1", "2", "12"], "QP": ["3", "7"], "RID": ["31", "32"]}
STAND_IN = """#!/bin/sh
# rdqctl -t MS -j [-s PATH] OBJECT COMMAND, as the completion runs it.
case "$*" in
*"ep show") echo '{"endpoints":[{"ep":1,"qp":0,"role":"listener","local":"10.0.0.1:7472",\
"parent":0,"connections":1,"max_connections":1024},{"ep":2,"qp":3,\
"role":"passive","remote":"[fe80::1]:7000","parent":1},{"ep":12,"qp":7,"sent":3}]}' ;;
*"request list") echo '{"requests":[{"rid":31,"id":1,"op":"ep.recv","ep":12},\
{"rid":32,"id":0,"op":"ep.connect","ep":0}]}' ;;
*) echo "stand-in rdqctl: unexpected arguments: $*" >&2; exit 2 ;;
esac
"""


class Checker:
    def __init__(self, script, rdqctl):
        self.script, self.rdqctl, self.problems, self.cases = script, rdqctl, [], 0

    def offers(self, *words):
        return set(complete(self.script, self.rdqctl, *words)[0])

    def expect(self, want, *words, extra=()):
        """The completion of words offers want, and besides it at most extra."""
        self.cases += 1
        got = self.offers(*words)
        line = "rdqctl " + " ".join(words) + "<TAB>"
        if not set(want) <= got or not got <= set(want) | set(extra):
            self.problems.append(f"{line}: offers {sorted(got)}, want {sorted(want)}"
                                 + (f" (may add {sorted(extra)})" if extra else ""))


def positionals(usage, path):
    """The positional arguments of a usage line, by kind (EP, DATA, ADDR, ...); an optional one
    ([EP]) counts too."""
    line = usage.splitlines()[0]
    assert line.startswith(f"Usage: rdqctl {path}"), line
    rest = re.sub(r"\[--[a-z-]+(?: [A-Z]+)?\]", "", line[len(f"Usage: rdqctl {path}"):])
    return [re.split(r"[|\[]", word.strip("[]"))[0] for word in rest.split()]


def option_values(usage):
    """The options of a usage line that take a value, with its name: {"--timeout": "MS"}."""
    return dict(re.findall(r"\[(--[a-z-]+) ([A-Z]+)\]", usage.splitlines()[0]))


def main():
    script, rdqctl = sys.argv[1:3]
    top, commands = rdqctl_commands(rdqctl)
    with tempfile.TemporaryDirectory(prefix="rdq-completion-") as tmp:
        stand_in = os.path.join(tmp, "rdqctl")
        with open(stand_in, "w") as f:
            f.write(STAND_IN)
        os.chmod(stand_in, stat.S_IRWXU)
        files = os.path.join(tmp, "files")
        os.mkdir(files)
        open(os.path.join(files, "data.bin"), "w").close()
        c = Checker(script, stand_in)

        c.expect(global_options(top), "-")
        objects = sorted({obj for obj, _ in commands})
        c.expect(objects, "")
        for obj in objects:
            # A prefix as rdqctl takes it: the object is among what its first letter offers.
            c.cases += 1
            if obj not in c.offers(obj[0]):
                c.problems.append(f"rdqctl {obj[0]}<TAB> does not offer {obj}")
        c.expect([files + "/data.bin"], "-s", files + "/d")
        c.expect([files + "/data.bin"], "--socket=" + files + "/d")
        c.expect([files + "/data.bin"], "-js", files + "/d")

        for obj in objects:
            subs = [sub for o, sub in commands if o == obj and sub]
            if subs:
                c.expect(subs + ["help"], obj, "")
        for obj, sub in commands:
            if obj == "help":
                continue
            path = f"{obj} {sub}" if sub else obj
            words = path.split()
            usage = command_usage(rdqctl, obj, sub)
            c.expect(options_of(usage), *words, "-", extra=["--help"])
            filled = []
            for kind in positionals(usage, path):
                if kind in HANDLES:
                    c.expect(HANDLES[kind], *words, *filled, "")
                elif kind == "DATA":
                    c.expect([], *words, *filled, "")
                    c.expect(["@" + files + "/"], *words, *filled, "@" + files)
                    c.expect(["@" + files + "/data.bin"], *words, *filled, "@" + files + "/d")
                else:
                    c.expect([], *words, *filled, "")
                filled.append(HANDLES.get(kind, ["1"])[0])
            for opt, metavar in option_values(usage).items():
                if metavar in HANDLES:
                    c.expect(HANDLES[metavar], *words, *filled, opt, "")
                elif metavar == "FILE":
                    c.expect([files + "/data.bin"], *words, *filled, opt, files + "/d")
                else:
                    c.expect([], *words, *filled, opt, "")

    for p in c.problems:
        print(p)
    print(f"check-completion: {len(commands)} rdqctl commands, {c.cases} lines completed; "
          f"{len(c.problems)} problem(s)")
    return 1 if c.problems else 0


if __name__ == "__main__":
    sys.exit(main())
