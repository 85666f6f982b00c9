#!/usr/bin/env python3
"""Checks that the modules of src/ import each other in one direction only (no cycles) and
that no source file is longer than the house limit. Run by scripts/test.sh.

A node is a source file (`src/cache/reader.rs` is `cache::reader`, `src/cache/mod.rs` is
`cache`). An edge A -> B is a path in A's code (`crate::b::...`, `super::...`, `self::...`)
that names an item of B. The `mod` declarations of a parent are not edges, and unit-test files
(`tests.rs`, `*_tests.rs` and `#[cfg(test)] mod tests { .. }` blocks) are skipped: tests look at
their module from above. A cycle between files, a file longer than --max-lines, or (with
--graph) the graph itself is printed.

Usage: scripts/check-layers.py [--max-lines N] [--graph] [--src DIR]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TEST_FILE = re.compile(r"(^|_)tests?\.rs$")
PATH_START = re.compile(r"\b(crate|super|self)::")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RAW_START = re.compile(r'b?r(#*)"')


def module_of(src: Path, file: Path) -> tuple[str, ...]:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def strip_literals(text: str) -> str:
    """The code without comments, string and char literals (a small Rust lexer)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c in "rb" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")) \
                and RAW_START.match(text, i):
            m = RAW_START.match(text, i)
            hashes = m.group(1)
            end = text.find('"' + hashes, m.end())
            i = n if end < 0 else end + 1 + len(hashes)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and i + 2 < n and (text[i + 1] == "\\" or text[i + 2] == "'"):
            j = i + 2 if text[i + 1] == "\\" else i + 1
            end = text.find("'", j + 1 if text[i + 1] == "\\" else j)
            i = n if end < 0 else end + 1
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_comments_and_tests(text: str) -> str:
    """Drops comments, literals and `#[cfg(test)]` items (their braces counted)."""
    text = strip_literals(text)
    out = []
    i = 0
    while True:
        j = text.find("#[cfg(test)]", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        k = j + len("#[cfg(test)]")
        semi = text.find(";", k)
        brace = text.find("{", k)
        if brace < 0 or (0 <= semi < brace):
            i = semi + 1  # `#[cfg(test)] mod tests;` or a `use`
            continue
        depth = 0
        m = brace
        while m < len(text):
            if text[m] == "{":
                depth += 1
            elif text[m] == "}":
                depth -= 1
                if depth == 0:
                    break
            m += 1
        i = m + 1
    return "".join(out)


def expand_paths(text: str, start: int) -> list[list[str]]:
    """The paths of a `crate::a::{b, c::d}` expression starting at `start`, one list each."""
    paths: list[list[str]] = []

    def walk(pos: int, prefix: list[str]) -> int:
        segments = list(prefix)
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if text.startswith("{", pos):
                pos += 1
                while True:
                    while pos < len(text) and text[pos] in " \t\n,":
                        pos += 1
                    if pos >= len(text) or text[pos] == "}":
                        return pos + 1
                    pos = walk(pos, segments)
            m = IDENT.match(text, pos)
            if not m:
                paths.append(segments)
                return pos
            segments.append(m.group(0))
            pos = m.end()
            if text.startswith("::", pos):
                pos += 2
                continue
            paths.append(segments)
            return pos
        paths.append(segments)
        return pos

    walk(start, [])
    return paths


def resolve(path: list[str], here: tuple[str, ...], is_mod_file: bool,
            modules: set[tuple[str, ...]]) -> tuple[str, ...] | None:
    if not path:
        return None
    head, rest = path[0], path[1:]
    if head == "crate":
        base: tuple[str, ...] = ()
    elif head == "self":
        base = here
    elif head == "super":
        base = here[:-1]
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    else:
        return None
    best = base if base in modules else None
    current = base
    for seg in rest:
        current = current + (seg,)
        if current in modules:
            best = current
        else:
            break
    return best


def build_graph(src: Path) -> tuple[dict[tuple[str, ...], set[tuple[str, ...]]], dict[tuple[str, ...], Path]]:
    files = {module_of(src, f): f for f in sorted(src.rglob("*.rs"))}
    modules = set(files)
    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in files}
    for module, file in files.items():
        if TEST_FILE.search(file.name):
            continue
        text = strip_comments_and_tests(file.read_text())
        for m in PATH_START.finditer(text):
            for path in expand_paths(text, m.start()):
                target = resolve(path, module, file.name == "mod.rs", modules)
                if target is None or target == module:
                    continue
                graph[module].add(target)
        # Paths that start at a child module (`readahead::ReadAhead` in cache/mod.rs).
        children = {c for c in modules if len(c) == len(module) + 1 and c[:-1] == module}
        for child in children:
            if re.search(r"(?<![:\w])" + re.escape(child[-1]) + r"::", text):
                graph[module].add(child)
    # A file's own items reached through `self::child::..` are the parent's use of the child:
    # keep them; an edge to the crate root (lib.rs) is not a dependency.
    for edges in graph.values():
        edges.discard(())
    return graph, files


def cycles(graph: dict[tuple[str, ...], set[tuple[str, ...]]]) -> list[list[tuple[str, ...]]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[tuple[str, ...], int] = {}
    low: dict[tuple[str, ...], int] = {}
    stack: list[tuple[str, ...]] = []
    on_stack: set[tuple[str, ...]] = set()
    found: list[list[tuple[str, ...]]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: tuple[str, ...]) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def name(module: tuple[str, ...]) -> str:
    return "::".join(module) or "crate"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", type=Path, default=Path(__file__).resolve().parent.parent / "src")
    p.add_argument("--max-lines", type=int, default=600)
    p.add_argument("--graph", action="store_true", help="print every edge")
    args = p.parse_args(argv)
    graph, files = build_graph(args.src)
    failed = False
    if args.graph:
        for module in sorted(graph):
            for target in sorted(graph[module]):
                print(f"{name(module)} -> {name(target)}")
    for component in cycles(graph):
        failed = True
        print(f"cycle between {len(component)} modules: {', '.join(name(m) for m in component)}")
        members = set(component)
        for m in component:
            inside = sorted(name(t) for t in graph[m] if t in members)
            print(f"  {name(m)} -> {', '.join(inside)}")
    for module, file in sorted(files.items()):
        lines = sum(1 for _ in file.open())
        if lines > args.max_lines:
            failed = True
            print(f"{file}: {lines} lines (the limit is {args.max_lines}): split it by concern")
    if not failed:
        print(f"layers: {len(graph)} modules, no cycles, none over {args.max_lines} lines")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
