#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The race tables' case counts, as the documents state them, against the
tables themselves. A race table is a `static const struct <name>_case
<array>[] = { ... };` in tests/unit/race/*.c, one initializer per case; each
test binary turns every element into a cmocka test. The documents state the
counts three ways, and each is checked:

  - a table's own: "The connect table (`race_connect.c`, 25 cases)", where the
    word before "table" picks the array (connect_cases) when the file has more
    than one;
  - a breakdown: the markdown table after such a paragraph whose last column
    is "cases" adds up to that table's count;
  - the total: any other "N cases" (or "N <word> cases") in a paragraph that
    speaks of the race tables, or in a section headed by them, and "in N
    tables" beside it.

Usage: check-race-count.py SOURCE_ROOT
"""
import pathlib
import re
import sys

TABLE_START = re.compile(r"\bstatic\s+const\s+struct\s+(\w+_case)\s+(\w+)\s*\[\s*\]\s*=\s*\{")
# "The connect table** (`race_connect.c`, 25 cases)", bold or not, on one line or two.
TABLE_CLAIM = re.compile(r"\bThe\s+(\w+)\s+table\W*\(\s*`(\w+\.c)`\s*,\s*(\d+)\s+cases\s*\)")
ANY_CLAIM = re.compile(r"\b(\d+)\s+(?:[\w-]+\s+)?cases\b")
TABLES_CLAIM = re.compile(r"\bcases\s+in\s+(\w+)\s+tables\b")
RACE_TABLES = re.compile(r"\brace[ -]tables?\b", re.IGNORECASE)
WORDS = {w: n for n, w in enumerate("zero one two three four five six seven eight nine ten "
                                    "eleven twelve".split())}


def strip_c(text):
    """C text without comments and with string and character literals emptied,
    so that braces inside them are not counted; newlines are kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("\n" * text.count("\n", i, end))
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def race_tables(race_dir):
    """{(file name, array name): number of cases}, in file order."""
    tables = {}
    for path in sorted(race_dir.glob("*.c")):
        code = strip_c(path.read_text())
        for m in TABLE_START.finditer(code):
            depth, cases, i = 1, 0, m.end()
            while depth and i < len(code):
                if code[i] == "{":
                    depth += 1
                    if depth == 2:  # an element of the array: one case
                        cases += 1
                elif code[i] == "}":
                    depth -= 1
                i += 1
            tables[(path.name, m.group(2))] = cases
    return tables


def paragraphs(path):
    """Each block of non-blank lines, as (first line number, lines, heading of
    its section); headings inside fenced code are not headings."""
    heading, fenced, block, start = "", False, [], 0
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines + [""], 1):
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#+\s", line):
            if block:
                yield start, block, heading
            heading, block = line, []
            continue
        if line.strip():
            if not block:
                start = n
            block.append(line)
        elif block:
            yield start, block, heading
            block = []


def where(start, block, offset):
    """The line number of a character offset into the block's lines joined by spaces."""
    for i, line in enumerate(block):
        if offset <= len(line):
            return start + i
        offset -= len(line) + 1
    return start + len(block) - 1


def pick_table(tables, file, word):
    """The array a claim names: the file's only table, or the one named after the word."""
    arrays = [a for (f, a) in tables if f == file]
    if len(arrays) == 1:
        return arrays[0], None
    named = [a for a in arrays if a.startswith(word + "_") or a == word]
    if len(named) == 1:
        return named[0], None
    if not arrays:
        return None, f"{file} holds no race table"
    return None, f"the {word} table: {file} holds {', '.join(arrays)}; none or several match"


def check_doc(path, rel, tables, total, bad):
    last_table = None  # (array's count, its name) of the latest table claim, for a breakdown
    section = None
    for start, block, heading in paragraphs(path):
        if heading != section:  # a breakdown belongs to a claim of its own section
            section, last_table = heading, None
        text = " ".join(block)
        if block[0].startswith("|"):
            rows = [[c.strip() for c in row.strip().strip("|").split("|")] for row in block]
            if last_table and rows[0][-1].lower() == "cases" and len(rows) > 2:
                count, name = last_table
                summed = sum(int(r[-1]) for r in rows[2:] if r[-1].isdigit())
                if summed != count:
                    bad.append(f"{rel}:{start}: the rows under \"cases\" add up to {summed}; "
                               f"{name} holds {count} cases")
                last_table = None
            continue
        claimed = set()
        for m in TABLE_CLAIM.finditer(text):
            word, file, n = m.group(1), m.group(2), int(m.group(3))
            line = where(start, block, m.start())
            claimed.add(m.start(3))
            array, problem = pick_table(tables, file, word)
            if problem:
                bad.append(f"{rel}:{line}: {problem}")
                continue
            count = tables[(file, array)]
            last_table = (count, f"{file}'s {array}")
            if n != count:
                bad.append(f"{rel}:{line}: says the {word} table ({file}) has {n} cases; "
                           f"{array} holds {count}")
        if not (RACE_TABLES.search(text) or RACE_TABLES.search(heading)):
            continue
        for m in ANY_CLAIM.finditer(text):
            if m.start(1) in claimed:
                continue
            n = int(m.group(1))
            if n != total:
                bad.append(f"{rel}:{where(start, block, m.start())}: says {m.group(0)!r} of the "
                           f"race tables; they hold {total}")
        for m in TABLES_CLAIM.finditer(text):
            word = m.group(1).lower()
            n = int(word) if word.isdigit() else WORDS.get(word)
            if n != len(tables):
                bad.append(f"{rel}:{where(start, block, m.start())}: says the cases are in "
                           f"{m.group(1)} tables; there are {len(tables)}")


def main():
    root = pathlib.Path(sys.argv[1])
    tables = race_tables(root / "tests" / "unit" / "race")
    total = sum(tables.values())
    bad = []
    if not tables:
        bad.append("tests/unit/race: no race table found (static const struct *_case name[])")
    docs = [root / "README.md"] + sorted((root / "docs").rglob("*.md"))
    for path in docs:
        check_doc(path, path.relative_to(root), tables, total, bad)
    for (file, array), count in tables.items():
        print(f"{file}: {array}: {count} cases")
    print(f"race tables: {len(tables)}, {total} cases")
    for b in bad:
        print(b)
    print(f"check-race-count: {len(bad)} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
