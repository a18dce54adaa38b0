#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The man pages against the programs: each page renders without a groff
warning; rdqd(8) names every option `rdqd --help` lists; rdqctl(8) every
command and option that rdqctl's help lists, at every level; librdq(3) every
function librdq exports (lib/librdq.map); rdq-protocol(7) every operation
rdqd serves (daemon/ops.c's table). So the pages and the programs cannot
drift apart.

Usage: check-man.py MAN_DIR RDQD RDQCTL SOURCE_ROOT   (MAN_DIR: the built pages)
"""
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from rdqctl_help import command_usage, global_options, options_of, rdqctl_commands, run  # noqa: E402


def render(page):
    """The page as plain text; fails on any groff warning."""
    warn = run("groff", "-ww", "-man", "-Tutf8", "-z", page)
    problems = [f"{page}: groff: {line}" for line in warn.stderr.splitlines()]
    text = run("groff", "-man", "-Tutf8", "-P", "-cbou", page).stdout
    # Words the page breaks across lines with a hyphen count as written.
    return problems, re.sub(r"\s+", " ", text.replace("\u2010", "-").replace("\u2212", "-"))


def main():
    man_dir, rdqd, rdqctl, root = sys.argv[1:5]
    problems = []
    texts = {}

    for page in ("rdqd.8", "rdqctl.8", "librdq.3", "rdq-protocol.7"):
        p, texts[page] = render(os.path.join(man_dir, page))
        problems += p
    rdqd_text, rdqctl_text = texts["rdqd.8"], texts["rdqctl.8"]

    with open(os.path.join(root, "lib", "librdq.map")) as f:
        exported = re.findall(r"^\s+(rdq_\w+);", f.read(), re.M)
    for name in exported:
        if name + "(" not in texts["librdq.3"].replace(" (", "("):
            problems.append(f"librdq(3) does not describe {name}()")
    with open(os.path.join(root, "daemon", "ops.c")) as f:
        ops = re.findall(r'^\s*\{"([a-z.]+)", op_\w+\}', f.read(), re.M)
    for op in ops:
        if not re.search(r"(?<![\w.])" + re.escape(op) + r"(?![\w.])", texts["rdq-protocol.7"]):
            problems.append(f"rdq-protocol(7) does not describe the operation {op}")

    for opt in sorted(options_of(run(rdqd, "--help").stdout)):
        if opt not in rdqd_text:
            problems.append(f"rdqd(8) does not name rdqd's option {opt}")

    top, commands = rdqctl_commands(rdqctl)
    wanted = {opt: "rdqctl" for opt in global_options(top)}
    for obj, sub in commands:
        name = f"{obj} {sub}" if sub else obj
        if name not in rdqctl_text:
            problems.append(f"rdqctl(8) does not describe the command \"{name}\"")
        if obj == "help":
            continue
        usage = command_usage(rdqctl, obj, sub)
        for opt in options_of(usage):
            wanted.setdefault(opt, f"rdqctl {name}")
    for opt, where in sorted(wanted.items()):
        if opt not in rdqctl_text:
            problems.append(f"rdqctl(8) does not name the option {opt} ({where})")

    for p in problems:
        print(p)
    print(f"check-man: {len(commands)} rdqctl commands, {len(exported)} librdq functions, "
          f"{len(ops)} operations checked; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
