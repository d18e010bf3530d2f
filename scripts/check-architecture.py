#!/usr/bin/env python3
"""Checks the shape of the workspace's crates (see ARCHITECTURE.md).

* No import cycle between source files: every `use crate::…`, `use super::…` and inline
  `crate::…` path of a file is an edge to the file that defines the item (re-exports through
  `pub use` are followed to the defining file; `mod x;` declarations are not edges). Test
  modules (`#[cfg(test)] mod tests { … }` and `tests.rs` files) are left out: tests may use
  anything.
* No source file over the size limit, counted in lines of code (not blank, not a comment, not
  in a test module).

Prints each cycle and each oversized file and exits 1 if there is any.

usage: check-architecture.py [--max-lines N] [--graph CRATE_DIR]
"""

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = ["gray-core", "gray-ffi", "gray-tower", "gray-pingora", "gray-redis", "gray-etcd", "gray-py", "examples/gateway", "examples", "benches", "lua-resty-gray"]


def strip_code(text):
    """Source without comments, string contents and test modules, as a list of lines."""
    out = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == "#[cfg(test)]" and i + 1 < len(lines) and re.match(r"\s*mod tests\s*\{", lines[i + 1]):
            depth = 0
            j = i + 1
            while j < len(lines):
                depth += lines[j].count("{") - lines[j].count("}")
                if depth <= 0 and "}" in lines[j]:
                    break
                j += 1
            i = j + 1
            continue
        s = re.sub(r'"(\\.|[^"\\])*"', '""', line)
        s = s.split("//", 1)[0]
        out.append(s)
        i += 1
    return out


def expand_use(body):
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    body = body.strip()
    m = re.match(r"^(.*?)\{(.*)\}$", body, re.S)
    if not m:
        return [body]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        p = p.strip()
        if p:
            out.extend(prefix + q for q in expand_use(p))
    return out


class Crate:
    def __init__(self, path):
        self.src = os.path.join(ROOT, path, "src")
        self.name = path
        self.files = {}  # module path tuple -> file
        for dirpath, _, names in os.walk(self.src):
            for n in names:
                if not n.endswith(".rs") or n == "tests.rs":
                    continue
                f = os.path.join(dirpath, n)
                rel = os.path.relpath(f, self.src)[:-3].split(os.sep)
                if rel[-1] in ("mod", "lib", "main"):
                    rel = rel[:-1]
                if rel and rel[0] == "bin":
                    continue
                self.files.setdefault(tuple(rel), f)
        self.code = {m: strip_code(open(f).read()) for m, f in self.files.items()}
        self.reexports = {m: self._reexports(m) for m in self.files}

    def _uses(self, module):
        """Use statements of a module as (visibility, path) pairs."""
        text = "\n".join(self.code[module])
        for m in re.finditer(r"(?m)^\s*(pub(?:\([a-z]+\))?\s+)?use\s+([^;]+);", text):
            for p in expand_use(m.group(2)):
                p = re.sub(r"\s+as\s+\w+$", "", p.strip())
                yield (m.group(1) is not None, re.sub(r"\s+", "", p))

    def _reexports(self, module):
        out = {}
        for public, p in self._uses(module):
            if public:
                name = p.split("::")[-1]
                if name != "*":
                    out[name] = p
        return out

    def absolute(self, module, path):
        """A path written in `module` as a module path tuple from the crate root."""
        segs = path.split("::")
        if segs[0] == "crate":
            return tuple(segs[1:])
        base = list(module)
        if segs[0] == "self":
            return tuple(base + segs[1:])
        if segs[0] == "super":
            while segs and segs[0] == "super":
                base = base[:-1]
                segs = segs[1:]
            return tuple(base + segs)
        # A path relative to the module (a child module or a sibling import).
        if (tuple(base) + (segs[0],)) in self.files:
            return tuple(base + segs)
        return None

    def resolve(self, segs, depth=0):
        """The module (file) that defines the item at absolute path `segs`."""
        if depth > 20:
            return None
        for k in range(len(segs), -1, -1):
            mod = tuple(segs[:k])
            if mod in self.files:
                rest = segs[k:]
                if rest and rest[0] in self.reexports.get(mod, {}):
                    target = self.absolute(mod, self.reexports[mod][rest[0]])
                    if target is not None and target != mod + (rest[0],):
                        r = self.resolve(list(target) + list(rest[1:]), depth + 1)
                        if r is not None:
                            return r
                return mod
        return None

    def edges(self, module):
        out = set()
        paths = [p for _, p in self._uses(module)]
        text = "\n".join(l for l in self.code[module] if not re.match(r"^\s*(pub(\([a-z]+\))?\s+)?use\s", l))
        paths += re.findall(r"\b((?:crate|super)(?:::\w+)+)", text)
        for p in paths:
            if not (p.startswith("crate::") or p.startswith("super::") or p.startswith("self::")):
                head = p.split("::")[0]
                if (module + (head,)) not in self.files:
                    continue
            a = self.absolute(module, p)
            if a is None:
                continue
            target = self.resolve(list(a))
            if target is not None and target != module:
                out.add(target)
        return out

    def sizes(self):
        for m, f in self.files.items():
            n = sum(1 for l in self.code[m] if l.strip())
            yield f, n


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
            if len(comp) > 1:
                out.append(comp)

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-lines", type=int, default=600)
    ap.add_argument("--graph", help="print the file graph of one crate (e.g. gray-core)")
    args = ap.parse_args()
    bad = 0
    for path in CRATES:
        if not os.path.isdir(os.path.join(ROOT, path, "src")):
            continue
        c = Crate(path)
        graph = {m: c.edges(m) for m in c.files}
        if args.graph == path:
            for m in sorted(graph):
                print("/".join(m) or "lib", "->", ", ".join(sorted("/".join(t) or "lib" for t in graph[m])))
        for comp in cycles(graph):
            bad += 1
            names = sorted(os.path.relpath(c.files[m], ROOT) for m in comp)
            print(f"import cycle in {path}: " + " <-> ".join(names))
        for f, n in c.sizes():
            if n > args.max_lines:
                bad += 1
                print(f"{os.path.relpath(f, ROOT)}: {n} lines of code (limit {args.max_lines})")
    if bad:
        sys.exit(1)
    print("architecture: no import cycle, no file over", args.max_lines, "lines of code")


if __name__ == "__main__":
    main()
