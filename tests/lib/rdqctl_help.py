# SPDX-License-Identifier: MIT
"""rdqctl as its help describes it, for the checks that keep the man page and the bash
completion in step with the program: the commands and options each level of `rdqctl help`
lists; and the completion's candidates for a command line, from tests/lib/complete-rdqctl."""
import os
import re
import subprocess
import time

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*[a-z]|-[a-zA-Z])\b")
COMPLETE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "complete-rdqctl")


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def options_of(help_text):
    """The options a usage text offers: in its usage lines ("Usage: ...", and command lines
    indented by two spaces) and at the head of its option lines ("  -s, --socket PATH  ...");
    not those its descriptions mention."""
    found = set()
    for line in help_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("-"):
            head = stripped.split("  ")[0]
        elif stripped.startswith("Usage:") or re.match(r"^  \S", line):
            head = stripped
        else:
            continue
        found.update(m.group(1) for m in OPTION.finditer(head))
    return found


def rdqctl_commands(rdqctl):
    """Each 'object command' rdqctl's help lists (command None for an object alone), and the
    help text itself."""
    top = run(rdqctl, "help").stdout
    commands = []
    section = top.split("Objects and commands:")[1].split("Options:")[0]
    for line in section.splitlines():
        m = re.match(r"^  ([a-z]+)(?: ([a-z|]+))?", line)
        if not m:
            continue
        obj, subs = m.group(1), m.group(2)
        if obj == "help":
            commands.append(("help", None))
        elif subs and not subs.isupper():
            commands += [(obj, sub) for sub in subs.split("|")]
        else:
            commands.append((obj, None))
    return top, commands


def global_options(top):
    """The global options `rdqctl help` lists."""
    return options_of(top.split("Options:")[1])


def command_usage(rdqctl, obj, sub):
    """The usage text of one command ("rdqctl ep send help")."""
    return run(rdqctl, *([obj, sub, "help"] if sub else [obj, "help"])).stdout


def complete(script, rdqctl, *words, env=None, timeout=30):
    """What bash's completion of `rdqctl WORDS...` offers, the last word being completed:
    (candidates, seconds taken). rdqctl is the command's first word, which the script runs
    for handles. Raises RuntimeError when the driver fails or takes over timeout seconds."""
    start = time.monotonic()
    try:
        p = subprocess.run([COMPLETE, script, rdqctl, *words], capture_output=True, text=True,
                           check=False, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"complete-rdqctl {' '.join(words)}: no answer in {timeout} s")
    took = time.monotonic() - start
    if p.returncode != 0 or p.stderr:
        raise RuntimeError(f"complete-rdqctl {' '.join(words)}: exit {p.returncode}: {p.stderr}")
    return p.stdout.splitlines(), took
