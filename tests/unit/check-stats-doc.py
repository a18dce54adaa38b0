#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
docs/protocol.md's `stats` row against the stats table
(lib/protocol/stats_fields.h, printed by print-stats-fields): the row names
every group and field of the table, each in its group, and none the table
lacks. The row reads `group` {field, field (a note), ...} for a group and
`field` for a field at the top; notes in parentheses are not names. And the
table itself keeps each group's fields together, as the encoder writes one
object per run of a group.

Usage: check-stats-doc.py SOURCE_ROOT PRINT_STATS_FIELDS
"""
import re
import subprocess
import sys


def table_of_code(printer):
    """[(group or None, field)] in wire order."""
    out = subprocess.run([printer], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        group, field = line.split()
        rows.append((None if group == '-' else group, field))
    return rows


def stats_cell(root):
    text = open(f'{root}/docs/protocol.md', encoding='utf-8').read()
    section = text[text.index('## Operations'):]
    for line in section.splitlines():
        m = re.match(r'^\| `stats` \| [^|]* \| (.*) \| [^|]* \|$', line)
        if m:
            return m.group(1)
    return None


def without_notes(cell):
    """The cell with every parenthesised note (nested ones too) taken out."""
    kept, depth = [], 0
    for c in cell:
        if c == '(':
            depth += 1
        elif c == ')':
            depth = max(depth - 1, 0)
        elif depth == 0:
            kept.append(c)
    return ''.join(kept)


def names_of_doc(cell):
    """{(group or None, field)} and the set of groups the cell names."""
    cell = without_notes(cell)
    names, groups = set(), set()
    for m in re.finditer(r'`([a-z_]+)`\s*\{([^}]*)\}', cell):
        groups.add(m.group(1))
        for item in m.group(2).split(','):
            word = re.match(r'\s*`?([a-z_]+)', item)
            if word:
                names.add((m.group(1), word.group(1)))
    for name in re.findall(r'`([a-z_]+)`', re.sub(r'`[a-z_]+`\s*\{[^}]*\}', '', cell)):
        names.add((None, name))
    return names, groups


def dotted(name):
    return f'{name[0]}.{name[1]}' if name[0] else name[1]


def main():
    root, printer = sys.argv[1], sys.argv[2]
    code = table_of_code(printer)
    cell = stats_cell(root)
    if cell is None:
        print('docs/protocol.md: no `stats` row in the operations table')
        print('0 passed, 1 failed')
        return 1
    doc, doc_groups = names_of_doc(cell)
    code_names = set(code)
    code_groups = {g for g, _ in code if g}
    bad = []
    for g in sorted(code_groups - doc_groups):
        bad.append(f'protocol.md\'s stats row lacks the group `{g}` {{...}} of stats_fields.h')
    for g in sorted(doc_groups - code_groups):
        bad.append(f'protocol.md\'s stats row names a group {g} that stats_fields.h lacks')
    for name in code:
        if name not in doc and name[0] in doc_groups | {None}:
            bad.append(f'protocol.md\'s stats row lacks {dotted(name)} (in stats_fields.h)')
    for name in sorted(doc - code_names, key=dotted):
        bad.append(f'protocol.md\'s stats row names {dotted(name)}, which stats_fields.h lacks')
    seen, last = set(), None
    for group, field in code:
        if group != last and group in seen:
            bad.append(f'stats_fields.h: {group}.{field} is apart from the rest of {group}')
        seen.add(group)
        last = group
    for line in bad:
        print(line)
    print(f'{0 if bad else 1} passed, {1 if bad else 0} failed: '
          f'{len(code)} fields in the table, {len(doc)} named in protocol.md')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
