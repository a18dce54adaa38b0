#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
rdqd's modules point one way: no file of daemon/ uses a function of another
that, directly or through others, uses one of its own. Read from the object
files (what each defines and what it needs), so it sees every real call and
nothing a header merely declares. Lower layers reach higher ones only through
pointers they are given (the control socket's handlers, the QP's on_message,
the device watch's channel hand-off), which keeps this graph a DAG.

Prints the files in layer order (each uses only files above it in the list);
on a cycle, prints it and exits 1.

Usage: check-module-graph.py RDQD_EXECUTABLE  (its objects are in RDQD.p/)
"""
import os
import subprocess
import sys


def symbols(obj, flag):
    out = subprocess.run(['nm', flag, obj], capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if flag == '--undefined-only' and len(parts) == 2:
            names.add(parts[1])
        elif flag == '--defined-only' and len(parts) == 3 and parts[1] in 'TDBR':
            names.add(parts[2])
    return names


def main():
    objdir = sys.argv[1] + '.p'
    objs = sorted(f for f in os.listdir(objdir) if f.endswith('.c.o'))
    if not objs:
        print(f'no object files in {objdir}')
        return 1
    name = {o: o[:-len('.c.o')] + '.c' for o in objs}
    defined_by = {}
    for o in objs:
        for s in symbols(os.path.join(objdir, o), '--defined-only'):
            defined_by[s] = name[o]
    uses = {}
    for o in objs:
        needed = symbols(os.path.join(objdir, o), '--undefined-only')
        uses[name[o]] = sorted({defined_by[s] for s in needed
                                if s in defined_by and defined_by[s] != name[o]})

    # Kahn's algorithm from the bottom: a file is placed once everything it uses is.
    placed, order = set(), []
    while len(order) < len(uses):
        ready = sorted(f for f in uses if f not in placed and all(u in placed for u in uses[f]))
        if not ready:
            break
        order.extend(ready)
        placed.update(ready)
    if len(order) == len(uses):
        for f in reversed(order):
            print(f'{f:16} uses {" ".join(uses[f]) or "-"}')
        return 0

    # Find and print one cycle among what could not be placed.
    left = {f: [u for u in uses[f] if u not in placed] for f in uses if f not in placed}
    path, f = [], next(iter(left))
    while f not in path:
        path.append(f)
        f = left[f][0]
    cycle = path[path.index(f):] + [f]
    print('daemon/ has a dependency cycle: ' + ' -> '.join(cycle))
    for a, b in zip(cycle, cycle[1:]):
        calls = sorted(s for s in symbols(os.path.join(objdir, a.replace('.c', '.c.o')),
                                          '--undefined-only') if defined_by.get(s) == b)
        print(f'  {a} calls {b}: {" ".join(calls)}')
    return 1


if __name__ == '__main__':
    sys.exit(main())
