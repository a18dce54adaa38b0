#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
docs/protocol.md's table of operations against the protocol's own table
(lib/protocol/ops_table.c, printed by print-ops): every op the code serves
has a row and every row an op; a row's arguments (the `names` in its args
cell) are exactly the op's; where the row gives an argument's default
("`port` (default 7472)") or range ("int 1..65536"), it is the table's.

Usage: check-protocol-args.py SOURCE_ROOT PRINT_OPS
"""
import re
import subprocess
import sys


def table_of_code(print_ops):
    ops = {}
    for line in subprocess.run([print_ops], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        f = line.split()
        ops.setdefault(f[0], {})
        if f[1] != '-':
            ops[f[0]][f[1]] = {'type': f[2], 'min': int(f[4]), 'max': int(f[5]),
                               'def': int(f[6])}
    return ops


def rows_of_doc(root):
    rows = {}
    text = open(f'{root}/docs/protocol.md', encoding='utf-8').read()
    section = text[text.index('## Operations'):]
    for line in section.splitlines():
        m = re.match(r'^\| `([a-z.]+)` \| (.*?) \| ', line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def main():
    root, print_ops = sys.argv[1], sys.argv[2]
    code, doc = table_of_code(print_ops), rows_of_doc(root)
    bad = []
    for op in sorted(set(code) | set(doc)):
        if op not in doc:
            bad.append(f'{op}: served by rdqd, missing from protocol.md\'s operations')
            continue
        if op not in code:
            bad.append(f'{op}: in protocol.md, but rdqd serves no such op')
            continue
        cell = doc[op]
        named = set(re.findall(r'`([a-z_]+)`', cell))
        for arg in sorted(set(code[op]) - named):
            bad.append(f'{op}: argument {arg} is not in protocol.md\'s row')
        for arg in sorted(named - set(code[op])):
            bad.append(f'{op}: protocol.md names an argument {arg} the op does not take')
        for arg, spec in code[op].items():
            m = re.search(r'`' + arg + r'` \(([^)]*)\)', cell)
            said = m.group(1) if m else ''
            d = re.search(r'default (-?\d+)', said)
            if d and int(d.group(1)) != spec['def']:
                bad.append(f'{op}: {arg}: protocol.md says default {d.group(1)}, '
                           f'rdqd has {spec["def"]}')
            r = re.search(r'(-?\d+)\.\.(-?\d+)', said)
            if r and (int(r.group(1)), int(r.group(2))) != (spec['min'], spec['max']):
                bad.append(f'{op}: {arg}: protocol.md says {r.group(0)}, '
                           f'rdqd has {spec["min"]}..{spec["max"]}')
    for line in bad:
        print(line)
    print(f'{0 if bad else 1} passed, {1 if bad else 0} failed')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
