#!/usr/bin/env python3
"""The allocation-failure sweep and its report: runs `rdq-sim --alloc-sweep`,
then names each allocation site it reached (addr2line) and sets them against
every allocation call in the rdqd sources the simulator links, so that the
sites no life reached are listed by name.

Usage: alloc-report.py RDQ_SIM SOURCE_ROOT
Exit status: the sweep's (a failed life fails the test); the report is information.
"""
import os
import re
import subprocess
import sys
import tempfile

# Where the rdqd sources built through the allocator seam are named: race-daemon's list,
# and the engine and protocol libraries' folders, whole.
RACE_MESON = "tests/unit/race/meson.build"
WHOLE_FOLDERS = ["daemon/engine", "lib/protocol"]


def linked_sources(root):
    """The .c files of rdqd the simulator links through the seam."""
    with open(os.path.join(root, RACE_MESON)) as f:
        text = f.read()
    block = text[text.index("static_library('race-daemon'"):]
    block = block[:block.index("engine_sources")]
    files = [os.path.normpath(os.path.join("tests/unit/race", p))
             for p in re.findall(r"'([^']+\.c)'", block)]
    for folder in WHOLE_FOLDERS:
        files += [os.path.join(folder, n) for n in sorted(os.listdir(os.path.join(root, folder)))
                  if n.endswith(".c")]
    return files
CALL = re.compile(r"\b(malloc|calloc|realloc|strdup)\s*\(")
FUNC = re.compile(r"^[a-z][\w \*]*?\b(\w+)\s*\([^;]*$")


def static_sites(root):
    """Every allocation call in the linked sources: {(file, line): function}."""
    sites = {}
    for path in linked_sources(root):
        function = "?"
        with open(os.path.join(root, path)) as f:
            for number, line in enumerate(f, 1):
                m = FUNC.match(line)
                if m and not line.startswith(("static const", "return")):
                    function = m.group(1)
                code = line.split("//")[0]
                if code.lstrip().startswith(("*", "/*")):
                    continue
                if CALL.search(code):
                    sites[(path, number)] = function
    return sites


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    sim, root = sys.argv[1], os.path.abspath(sys.argv[2])
    with tempfile.NamedTemporaryFile("r", suffix=".sites") as report:
        rc = subprocess.run([sim, "--alloc-sweep", report.name]).returncode
        if rc != 0:
            return rc
        offsets = [line.split() for line in report.read().splitlines() if line.strip()]
    reached = {}
    if offsets:
        out = subprocess.run(["addr2line", "-f", "-e", sim] + [o[0] for o in offsets],
                             capture_output=True, text=True).stdout.splitlines()
        for i, (offset, failed) in enumerate(offsets):
            function, where = out[2 * i], out[2 * i + 1]
            path, _, line = where.partition(":")
            path = os.path.relpath(os.path.realpath(path), root)
            line = int(re.match(r"\d+", line).group(0)) if re.match(r"\d+", line) else 0
            reached[(path, line)] = (function, int(failed))
    sites = static_sites(root)
    print(f"\nallocation sites in the linked rdqd sources: {len(sites)}; reached by the sweep: "
          f"{sum(1 for s in sites if s in reached)}")
    for (path, line), (function, failed) in sorted(reached.items()):
        print(f"  reached  {path}:{line} {function} (failed in {failed} lives)")
    for (path, line), function in sorted(sites.items()):
        if (path, line) not in reached:
            print(f"  not reached  {path}:{line} {function}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
