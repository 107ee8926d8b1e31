#!/usr/bin/env python3
"""check_layers.py -- check host/'s #include lines against host/layers.txt.

Usage: check_layers.py [ROOT]   (ROOT holds host/; default: this repository)

Fails (exit 1, one line per problem, FILE:LINE first) on:
  - an include of another sub-system's header that layers.txt does not
    allow ("host/net/http.c:12: net may not include runtime/plugins.h");
  - an include of another sub-system's private header (host/<sub>/internal/);
  - a loop between sub-systems, or a layers.txt naming a sub-system that is
    not declared above the one that uses it;
  - an include loop of more than two modules inside a sub-system (a module
    is foo.c + foo.h; two closely tied files may include each other);
  - a C file outside the declared sub-systems, or two headers of one name
    (the include path is flat: the name alone must say which it is).
Includes that name no header of host/ (sdk/, system and library headers)
are not checked.  Exit 0 with a one-line summary when all is well.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def load_layers(root, errors):
    """The allowed matrix: {sub: set(allowed subs)} in declaration order."""
    path = os.path.join(root, 'host', 'layers.txt')
    layers = {}
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            name, _, rest = line.partition(':')
            name = name.strip()
            allowed = rest.split()
            for a in allowed:
                if a not in layers:
                    errors.append(f'host/layers.txt:{n}: {name} may only use sub-systems '
                                  f'declared above it, not {a}')
            layers[name] = set(allowed)
    return layers


def sources(root, layers, errors):
    """Every .c/.h of host/ as (relative path, sub-system, private flag)."""
    out = []
    host = os.path.join(root, 'host')
    for dirpath, _, files in os.walk(host):
        for fn in sorted(files):
            if not fn.endswith(('.c', '.h')):
                continue
            rel = os.path.relpath(os.path.join(dirpath, fn), root)
            parts = rel.split(os.sep)
            sub = parts[1] if len(parts) > 2 else None
            if sub not in layers:
                errors.append(f'{rel}:1: not in a sub-system declared in host/layers.txt')
                continue
            private = len(parts) > 3 and parts[2] == 'internal'
            out.append((rel, sub, private))
    return sorted(out)


def module(rel):
    """foo.c and foo.h are one module."""
    return os.path.splitext(os.path.basename(rel))[0]


def sccs(graph):
    """Strongly connected components of {node: set(nodes)} (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check(root):
    """All problems found under root, as lines."""
    errors = []
    layers = load_layers(root, errors)
    files = sources(root, layers, errors)
    headers = {}
    for rel, sub, private in files:
        if rel.endswith('.h'):
            headers.setdefault(os.path.basename(rel), []).append((rel, sub, private))
    for name, where in sorted(headers.items()):
        if len(where) > 1:
            errors.append(f'{where[1][0]}:1: header name {name} is also {where[0][0]}')
    sub_graph = {s: set() for s in layers}
    mod_graph = {}
    for rel, sub, _ in files:
        with open(os.path.join(root, rel), encoding='utf-8', errors='replace') as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                name = os.path.basename(m.group(1))
                target = headers.get(name)
                if not target:
                    continue   # sdk/, system or library header
                trel, tsub, tprivate = target[0]
                shown = '/'.join(trel.split(os.sep)[1:])
                if tsub == sub:
                    src, dst = (sub, module(rel)), (sub, module(trel))
                    if src != dst:
                        mod_graph.setdefault(src, set()).add(dst)
                    continue
                if tprivate:
                    errors.append(f'{rel}:{n}: {sub} may not include {shown} '
                                  f'(private to {tsub})')
                elif tsub not in layers[sub]:
                    errors.append(f'{rel}:{n}: {sub} may not include {shown}')
                sub_graph[sub].add(tsub)
    for comp in sccs(sub_graph):
        if len(comp) > 1:
            errors.append('host/layers.txt:1: include loop between sub-systems: '
                          + ' <-> '.join(comp))
    for comp in sccs(mod_graph):
        if len(comp) > 2:
            sub = comp[0][0]
            names = ', '.join(m for _, m in comp)
            errors.append(f'host/{sub}:1: include loop of {len(comp)} modules in {sub}: '
                          f'{names} (at most two may include each other)')
    return errors, len(files)


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..')
    errors, n = check(os.path.abspath(root))
    for e in errors:
        print(e)
    if errors:
        print(f'layering: {len(errors)} problem(s)', file=sys.stderr)
        return 1
    print(f'layering: {n} files of host/ follow host/layers.txt')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
