#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
rdq's modules point one way: no file uses a function of another that,
directly or through others, uses one of its own. Each .c file is a module,
and each program or library is a graph of its own: rdqd's files (daemon/),
and librdq's with the wire format it links (lib/, lib/protocol/).

Read from the object files, so the graph holds the calls the compiler left
and nothing a header merely declares. Two kinds of edges:

Direct: what each object defines and what it needs (its symbol table). A
call, or a reference to another file's function or data, is a use.

Through a pointer: a call through a function pointer runs wherever the
pointer was set, which no symbol table shows (device.c calls d->cm_attach,
main.c set it to cm.c's cm_attach; neither device.c nor cm.c names the
other). The model is type-based, as compilers' own call graphs are:
  - what a pointer may hold: every function whose address an object of the
    graph takes. The relocations say so, those that are not a call or a jump
    (the lea or mov of an address, a table of handlers in .data), and so does
    the lea of a static function in the same section, which needs none;
  - the calls through pointers: every indirect call instruction, placed at its
    source line by the debug information (so the check needs -g, as meson's
    debug and debugoptimized build types have). The line names the pointer, as
    d->cm_attach(...) or o->release(o); its declaration, RET (*name)(PARAMS)
    or a typedef of a function or pointer type, in the calling file or a header
    it includes, gives its parameter types;
  - a call through a pointer with parameter types P may reach every
    address-taken function of the graph with parameter types P. That can only
    add edges, never lose one.
A pointer edge C -> B counts like a direct one unless B uses C directly: that
is a callback, the way a lower layer answers the layer above that uses it
(control.c hands session.c the frames of the connections session.c answers; a
QP tells its endpoint, which drives it, that a message came), and counting it
would make every callback a cycle. When B never names C, C depends on B
through a path no source line shows, and the edge counts: a cycle through it
fails the check. device.c calling cm.c's cm_attach through d->cm_attach, when
cm.c reaches device.c again through ep_cm.c and ep_teardown.c, is one.
An indirect call whose line names no pointer the check knows fails it too.
A `jmp *` that names none is a switch's jump table; calls placed in system
headers (ibverbs' inline functions) are the library's own.

Prints each graph's files in layer order (each uses only files below it in
the list) and its pointer edges; on a cycle, prints it and exits 1. Reads
x86-64 objects; on another machine it exits 77 (skipped).

Usage: check-module-graph.py SOURCE_ROOT --graph TARGET [TARGET...] [--graph ...]
  TARGET: an executable or library built by meson; its objects are in TARGET.p/
"""
import bisect
import os
import re
import subprocess
import sys

CALLS = re.compile(r'^(?:(?:notrack|bnd)\s+)?(?:call|j[a-z]+)\b')
INDIRECT = re.compile(r'^(?:(?:notrack|bnd)\s+)?(call|jmp)[a-z]*\s+\*')
# objdump's note of where a rip-relative operand points: "# 0 <cm_ready>".
RIP_TARGET = re.compile(r'#\s*[0-9a-f]+ <([\w.]+)>$')
# readelf -r: offset, info, type, symbol's value, symbol [+|- addend].
RELOC = re.compile(r'^([0-9a-f]+)\s+[0-9a-f]+\s+(\S+)\s+[0-9a-f]+\s+(\S+)'
                   r'(?:\s+([+-])\s+([0-9a-f]+))?$')
QUALIFIERS = {'const', 'volatile', 'restrict', 'register'}
TAGS = {'struct', 'enum', 'union'}
BUILTIN_TYPES = {'void', 'char', 'short', 'int', 'long', 'float', 'double', 'signed', 'unsigned',
                 'bool', '_Bool'}


def run(*args):
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


# --- the source, for what a line of code names ---

def strip_comments(text):
    """The text with comments and literals blanked, newlines kept (so line numbers hold)."""
    def blank(m):
        return re.sub(r'[^\n]', ' ', m.group(0))
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', blank, text,
                  flags=re.S)


def balanced(text, start):
    """The text inside the parentheses that open at start, and the index after them."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == '(':
            depth += 1
        elif text[i] == ')':
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    return None, len(text)


def split_params(params):
    out, depth, cur = [], 0, ''
    for ch in params:
        if ch == ',' and depth == 0:
            out.append(cur)
            cur = ''
            continue
        depth += ch == '('
        depth -= ch == ')'
        cur += ch
    out.append(cur)
    return out


def param_type(param):
    """A parameter's type without its name: "struct rdqd *d" -> "struct rdqd *"."""
    param = re.sub(r'\(\s*\*\s*\w*\s*\)', '(*)', param)  # a function pointer's own name
    param = re.sub(r'\b\w+\s*\[[^\]]*\]', '*', param) if '[' in param else param
    tokens = re.findall(r'\w+|\S', param)
    if len(tokens) > 1 and re.fullmatch(r'\w+', tokens[-1]) and \
            tokens[-1] not in BUILTIN_TYPES | QUALIFIERS | TAGS:
        rest = tokens[:-1]
        if rest[-1] not in TAGS and any(t not in QUALIFIERS for t in rest):
            tokens = rest
    return ' '.join(tokens).replace(' *', '*')


def signature(params):
    """The parameter types of a parameter list, as one comparable string."""
    types = [param_type(p) for p in split_params(params)]
    return '(' + ', '.join([] if types == ['void'] else types) + ')'


class Source:
    """The C files and headers of the project's module folders: definitions and pointers."""

    def __init__(self, dirs):
        self.text = {}
        for top in dirs:
            for folder, subdirs, files in os.walk(top):
                subdirs[:] = [d for d in subdirs if not d.startswith('.')]
                for f in files:
                    if f.endswith(('.c', '.h')):
                        path = os.path.join(folder, f)
                        with open(path, encoding='utf-8', errors='replace') as fh:
                            self.text[path] = strip_comments(fh.read())
        self.pointers = {}  # name -> {(file, signature)}
        self.functions = {}  # name -> {file: signature}
        for path, text in self.text.items():
            self.read_file(path, text)
        self.includes = {p: self.included(p, t) for p, t in self.text.items()}

    def read_file(self, path, text):
        typedefs = {}
        # typedef RET (*NAME)(PARAMS); (a pointer type) and typedef RET NAME(PARAMS); (a function's)
        for pattern, is_pointer in ((r'\btypedef\b[^;{}]*?\(\s*\*\s*(\w+)\s*\)\s*\(', True),
                                    (r'\btypedef\b[^;{}()]*?\b(\w+)\s*\(', False)):
            for m in re.finditer(pattern, text):
                params, _ = balanced(text, m.end() - 1)
                if params is not None:
                    typedefs[m.group(1)] = (signature(params), is_pointer)
        # RET (*name)(PARAMS), and arrays of them: RET (*const name[N])(PARAMS).
        for m in re.finditer(r'\(\s*\*\s*(?:const\s+)?(\w+)\s*(?:\[[^\]]*\]\s*)?\)\s*\(', text):
            if re.search(r'\btypedef\b[^;{}]*$', text[:m.start()]):
                continue
            params, _ = balanced(text, m.end() - 1)
            if params is not None:
                self.pointers.setdefault(m.group(1), set()).add((path, signature(params)))
        for name, (sig, is_pointer) in typedefs.items():
            star = '' if is_pointer else r'\*\s*'
            for m in re.finditer(r'\b%s\b\s*%s(?:const\s+)?(\w+)' % (name, star), text):
                self.pointers.setdefault(m.group(1), set()).add((path, sig))
        # A definition: NAME(PARAMS) followed by its body.
        for m in re.finditer(r'\b(\w+)\s*\(', text):
            params, end = balanced(text, m.end() - 1)
            if params is not None and re.match(r'\s*(__attribute__\s*\(\(.*?\)\)\s*)?\{',
                                                text[end:end + 200], re.S):
                self.functions.setdefault(m.group(1), {})[path] = signature(params)

    def included(self, path, text):
        names = re.findall(r'#\s*include\s*[<"]([^>"]+)[>"]', text)
        found = set()
        for name in names:
            found.update(p for p in self.text if p.endswith('/' + name))
        return found

    def visible_from(self, path):
        seen, todo = set(), [path]
        while todo:
            p = todo.pop()
            if p not in seen:
                seen.add(p)
                todo.extend(self.includes.get(p, ()))
        return seen

    def function_signature(self, name, module_path):
        defs = self.functions.get(name, {})
        if module_path in defs:
            return defs[module_path]
        visible = self.visible_from(module_path)
        for path, sig in defs.items():
            if path in visible:
                return sig
        return None

    def pointer_called(self, path, line):
        """The pointers the call on path:line may go through: [(name, signatures)]."""
        lines = self.text.get(path, '').split('\n')
        visible = self.visible_from(path)
        # The call's line first; a call split over lines may be placed at a later one.
        for first in range(line - 1, max(line - 4, -1), -1):
            code = ' '.join(lines[first:line])
            found = []
            # name(, (*name)(, or an element of an array of pointers: name[i](.
            for name in re.findall(r'(\w+)\s*(?:\[[^\]]*\]\s*)?\)?\s*\(', code):
                decls = self.pointers.get(name)
                if decls:
                    near = {s for p, s in decls if p in visible}
                    found.append((name, near or {s for _, s in decls}))
            if found:
                return found
        return []


# --- the objects ---

class Module:
    def __init__(self, obj):
        self.obj = obj
        info = run('readelf', '--debug-dump=info', '--dwarf-depth=1', obj)
        name = re.search(r'DW_AT_name\s*:.*?: (\S+)$|DW_AT_name\s*: (\S+)$', info, re.M)
        comp_dir = re.search(r'DW_AT_comp_dir\s*:.*?: (\S+)$|DW_AT_comp_dir\s*: (\S+)$', info,
                             re.M)
        machine = re.search(r'Machine:\s*(.*)', run('readelf', '-h', obj)).group(1)
        if 'X86-64' not in machine:
            print(f'{obj}: {machine}: this check reads x86-64 code only')
            sys.exit(77)  # meson's "skipped"
        if not name or not comp_dir:
            sys.exit(f'{obj} has no debug information: build with -g (meson buildtype debug, '
                     'debugoptimized or plain with CFLAGS=-g)')
        self.comp_dir = comp_dir.group(1) or comp_dir.group(2)
        self.source = os.path.normpath(os.path.join(self.comp_dir, name.group(1) or name.group(2)))
        self.line_rows = None
        self.read_code()

    def read_code(self):
        """
        Fills self.defines and self.needs (the symbols this object gives and takes: nm's
        view, from readelf, which is quicker), self.functions (every function it defines,
        static ones too), self.taken (functions whose address it takes) and self.indirect.
        """
        sections = {}
        for line in run('readelf', '-SW', self.obj).splitlines():
            m = re.match(r'\s*\[\s*(\d+)\]\s+(\S+)', line)
            if m:
                sections[m.group(1)] = m.group(2)
        func_at, funcs = {}, set()
        self.defines, self.needs = set(), set()
        for line in run('readelf', '-sW', self.obj).splitlines():
            p = line.split()
            if len(p) < 8 or not p[0].endswith(':'):
                continue
            if p[6] == 'UND':
                self.needs.add(p[7])
            elif p[4] in ('GLOBAL', 'WEAK') and p[6] in sections:
                self.defines.add(p[7])
            if p[3] == 'FUNC' and p[6] in sections:
                func_at[(sections[p[6]], int(p[1], 16))] = p[7]
                funcs.add(p[7])
        self.functions = funcs

        code = {}  # section -> [(offset, instruction, file, line)]
        section = path = None
        lineno = 0
        for line in run('objdump', '-dlw', '--no-show-raw-insn', self.obj).splitlines():
            m = re.match(r'Disassembly of section (\S+):', line)
            if m:
                section = m.group(1)
                code[section] = []
                continue
            m = re.match(r'^(/\S+):(\d+)', line)
            if m:
                path, lineno = os.path.normpath(m.group(1)), int(m.group(2))
                continue
            m = re.match(r'^\s+([0-9a-f]+):\s+(.*)$', line)
            if m and section:
                code[section].append((int(m.group(1), 16), m.group(2).strip(), path, lineno))

        starts = {section: [x[0] for x in insns] for section, insns in code.items()}

        def instruction(section, offset):
            if not code.get(section):
                return None
            i = bisect.bisect_right(starts[section], offset) - 1
            return code[section][i] if i >= 0 else None

        self.taken, relocated = set(), set()
        relocs_in = None
        for line in run('readelf', '-rW', self.obj).splitlines():
            m = re.match(r"Relocation section '\.rela(\S+)'", line)
            if m:
                relocs_in = m.group(1)
                continue
            m = RELOC.match(line.strip())
            if not m or relocs_in is None or relocs_in.startswith(('.debug', '.eh_frame')):
                continue
            offset, kind, symbol = int(m.group(1), 16), m.group(2), m.group(3)
            addend = int(m.group(5) or '0', 16) * (-1 if m.group(4) == '-' else 1)
            insn = instruction(relocs_in, offset)
            if insn:
                relocated.add((relocs_in, insn[0]))
                if CALLS.match(insn[1]):
                    continue
            if symbol in funcs:
                self.taken.add(symbol)
            elif symbol.startswith('.'):
                # A static function, named by its section and offset; rip-relative: +4.
                target = addend + (4 if kind.endswith(('PC32', 'PLT32')) else 0)
                if (symbol, target) in func_at:
                    self.taken.add(func_at[(symbol, target)])
            else:
                self.taken.add(symbol)  # maybe another file's function: sorted out by the graph

        self.indirect = []
        for section, insns in code.items():
            for offset, text, path, lineno in insns:
                m = RIP_TARGET.search(text)
                if m and not CALLS.match(text) and (section, offset) not in relocated and \
                        m.group(1) in funcs:
                    self.taken.add(m.group(1))
                m = INDIRECT.match(text)
                if m:
                    self.indirect.append((m.group(1), self.line_file(path, lineno, offset),
                                          lineno))

    def line_file(self, path, lineno, offset):
        """
        The file of the code at offset, which objdump placed at path:lineno. objdump (binutils
        2.40) can name the wrong file for a header's inline function compiled out of line (at
        -O0), with the right line; the line table, as readelf decodes it, has the right file's
        name. Returns a path, or just the name when the line table names no folder for it.
        """
        if self.line_rows is None:
            self.line_rows, file = {}, None
            for line in run('readelf', '-W', '--debug-dump=decodedline', self.obj).splitlines():
                m = re.match(r'^(?:CU: )?(\S+):$', line)
                if m:
                    file = os.path.normpath(os.path.join(self.comp_dir, m.group(1)))
                    continue
                p = line.split()
                if len(p) >= 3 and p[1].isdigit() and re.fullmatch(r'0x[0-9a-f]+|0', p[2]):
                    self.line_rows.setdefault(int(p[1]), []).append((int(p[2], 16), p[0], file))
        rows = [r for r in self.line_rows.get(lineno, []) if r[0] <= offset]
        if path is None or not rows:
            return path
        _, name, named = max(rows)
        if os.path.basename(path) == name:
            return path
        return named if named and os.path.basename(named) == name else name


# --- the graph ---

class Graph:
    def __init__(self, modules, source):
        self.modules = modules
        top = os.path.commonpath([os.path.dirname(m.source) for m in modules])
        self.top = top
        self.name = {m: os.path.relpath(m.source, top) for m in modules}
        defined_by = {}
        for m in modules:
            for s in m.defines:
                defined_by[s] = m
        self.calls = {}  # (a, b) -> symbols
        for m in modules:
            for s in m.needs:
                if s in defined_by and defined_by[s] is not m:
                    self.calls.setdefault((m, defined_by[s]), set()).add(s)
        self.uses = {m: {b for (a, b) in self.calls if a is m} for m in modules}

        # What pointers may hold: each address-taken function, with its module and parameters.
        self.problems = []
        held = []
        for m in modules:
            for f in sorted(m.taken):
                # This file's own function (static ones too), or another file's of the graph;
                # not data, and not a library's function (its pointers are the library's).
                owner = m if f in m.functions else defined_by.get(f)
                if owner is None or f not in owner.functions:
                    continue
                sig = source.function_signature(f, owner.source)
                if sig is None:
                    self.problems.append(f'{self.name[owner]}: cannot read the parameters of '
                                         f'{f}, whose address is taken')
                    continue
                held.append((owner, f, sig))

        # The calls through pointers, and where they may go.
        self.pointer = {}  # (c, b) -> {"slot: function"}
        for c in modules:
            for kind, path, line in c.indirect:
                if path and not os.path.isabs(path):
                    named = [p for p in source.text if os.path.basename(p) == path]
                    path = named[0] if len(named) == 1 else None
                if not path or path not in source.text:
                    continue  # inside a library's header: the library's own pointers
                slots = source.pointer_called(path, line)
                if not slots:
                    if kind == 'call':
                        self.problems.append(f'{os.path.relpath(path, top)}:{line}: a call '
                                             'through a pointer this check cannot name')
                    continue  # jmp: a switch's jump table
                for slot, sigs in slots:
                    for b, f, sig in held:
                        if b is not c and sig in sigs:
                            self.pointer.setdefault((c, b), set()).add(f'{slot}: {f}')
        self.counted = {(c, b) for (c, b) in self.pointer if c not in self.uses[b]}
        self.edges = {m: sorted(self.uses[m] | {b for (c, b) in self.counted if c is m},
                                key=self.name.get) for m in modules}

    def why(self, a, b):
        parts = []
        if (a, b) in self.calls:
            parts.append('calls ' + ' '.join(sorted(self.calls[(a, b)])))
        if (a, b) in self.counted:
            parts.append('through a pointer, ' + ', '.join(sorted(self.pointer[(a, b)])))
        return '; '.join(parts)

    def cycles(self):
        """One cycle for each strongly connected part, through a pointer edge if it has one."""
        index, low, stack, on, parts = {}, {}, [], set(), []

        def visit(v):
            index[v] = low[v] = len(index)
            stack.append(v)
            on.add(v)
            for w in self.edges[v]:
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                part = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    part.add(w)
                    if w is v:
                        break
                if len(part) > 1:
                    parts.append(part)

        for v in sorted(self.modules, key=self.name.get):
            if v not in index:
                visit(v)
        found = []
        for part in sorted(parts, key=lambda p: min(self.name[m] for m in p)):
            starts = sorted((e for e in self.counted if e[0] in part and e[1] in part),
                            key=lambda e: (self.name[e[0]], self.name[e[1]]))
            a, b = starts[0] if starts else (min(part, key=self.name.get), None)
            if b is None:
                b = next(w for w in self.edges[a] if w in part)
            # The shortest way back from b to a, inside the part.
            back, todo = {b: None}, [b]
            while a not in back:
                nxt = []
                for v in todo:
                    for w in self.edges[v]:
                        if w in part and w not in back:
                            back[w] = v
                            nxt.append(w)
                todo = nxt
            path, v = [], a
            while v is not None:
                path.append(v)
                v = back[v]
            found.append(([a] + list(reversed(path)), part))
        return found

    def report(self, title):
        ok = True
        for p in sorted(set(self.problems)):
            print(f'{title}: {p}')
            ok = False
        cycles = self.cycles()
        for cycle, part in cycles:
            print(f'{title} has a dependency cycle: ' +
                  ' -> '.join(self.name[m] for m in cycle))
            for a, b in zip(cycle, cycle[1:]):
                print(f'  {self.name[a]} -> {self.name[b]}: {self.why(a, b)}')
            if len(part) > len(cycle) - 1:
                print('  files on its cycles: ' + ' '.join(sorted(self.name[m] for m in part)))
            ok = False
        if cycles:
            return ok
        placed, order = set(), []
        while len(order) < len(self.modules):
            ready = sorted((m for m in self.modules
                            if m not in placed and all(u in placed for u in self.edges[m])),
                           key=self.name.get)
            order.extend(ready)
            placed.update(ready)
        print(f'{title}, each file using only files below it:')
        width = max(len(n) for n in self.name.values()) + 1
        for m in reversed(order):
            print(f'  {self.name[m]:{width}} uses '
                  f'{" ".join(self.name[u] for u in self.edges[m]) or "-"}')
        for (c, b) in sorted(self.pointer, key=lambda e: (self.name[e[0]], self.name[e[1]])):
            how = 'counted' if (c, b) in self.counted else \
                f'a callback: {self.name[b]} uses {self.name[c]}'
            print(f'  pointer: {self.name[c]} -> {self.name[b]} '
                  f'({", ".join(sorted(self.pointer[(c, b)]))}): {how}')
        return ok


def main():
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != '--graph':
        print(__doc__.strip().split('\n\n')[-1])
        return 2
    root, graphs = os.path.abspath(args[0]), []
    for a in args[1:]:
        if a == '--graph':
            graphs.append([])
        else:
            graphs[-1].append(a)
    built = []
    for targets in graphs:
        objs = []
        for t in targets:
            objdir = os.path.abspath(t) + '.p'
            objs += sorted(os.path.join(objdir, f) for f in os.listdir(objdir)
                           if f.endswith('.c.o'))
        if not objs:
            print(f'no object files for {" ".join(targets)}')
            return 1
        built.append((targets, [Module(o) for o in objs]))
    tops = {os.path.relpath(m.source, root).split(os.sep)[0] for _, ms in built for m in ms}
    source = Source(sorted(os.path.join(root, t) for t in tops))
    ok = True
    for targets, modules in built:
        graph = Graph(modules, source)
        title = os.path.relpath(graph.top, root) + '/ (' + \
            ', '.join(os.path.basename(t) for t in targets) + ')'
        ok = graph.report(title) and ok
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
