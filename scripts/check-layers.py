#!/usr/bin/env python3
"""Checks the module layering of src/: no import circles, and the layer rules of docs/design.md.

Every file under src/ is a module (`web/api.rs` is `web::api`, `web/mod.rs` is `web`). A module
depends on another when its code (tests excluded) names a path into it: `use crate::a::b`,
`crate::a::b::f()` in an expression, or `super::x`. A path is resolved to the deepest module file
it reaches, so `crate::camera::CameraDoor` is a dependency on `camera` (camera/mod.rs) and
`crate::camera::ffmpeg::x` one on `camera::ffmpeg`.

A module naming its own ancestor (a child using its parent's shared types through `super::`) is
the normal shape of a Rust module tree and is not counted; every other edge is. Two rules:

1. No circle: no module reaches itself through the others, neither at file level nor between the
   top-level modules (`camera`, `bridges`, ...). At top level, a leaf file belongs to no one: one
   that names nothing in the crate, or only such files (like `bridges::mqtt::settings`, which
   names `checks` and `secret`); any module may use it, since nothing can lead back through it. `app` is the one
   composition root: it may name anything, and only its `app::state` may be named back.
2. Layers: `detect` names only itself, `model`, `geometry` and the leaves `media` (the frame),
   `checks` (settings checks) and `error`; `bridges`, `web`, `alerts`, `describe`, `sensors` and
   `discovery` reach the cameras only through the doors in `camera/mod.rs` (and their settings in
   `camera::settings`), never the pipeline's insides (`camera::pipeline`, `camera::ffmpeg`, the
   event recorders, `detect::worker`, `detect::onnx`).

Run: `python3 scripts/check-layers.py` (exit 1 and the offending paths when a rule is broken);
`--graph` prints the top-level dependency graph.
"""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

# Layer rule 2: the pipeline's insides, which only the camera module itself (and `app`, which
# starts the detector) may name; everyone else goes through the doors in camera/mod.rs.
PIPELINE = [
    "camera::pipeline",
    "camera::ffmpeg",
    "camera::controls",
    "camera::motion_events",
    "camera::object_events",
    "detect::worker",
    "detect::onnx",
]
FORBIDDEN = {prefix: PIPELINE for prefix in ["bridges", "web", "alerts", "describe", "sensors", "discovery"]}
# Layer rule 2: the only modules `detect` may name besides itself.
DETECT_MAY_NAME = {"model", "geometry", "media", "checks", "error"}
# The composition root, and the leaf of it that the rest may name.
ROOT = "app"
ROOT_LEAF = "app::state"


def module_of(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    if parts == ["lib"] or parts == ["main"]:
        return ""
    return "::".join(parts)


def strip_code(text: str) -> str:
    """Drops comments, string literals and the trailing `#[cfg(test)]` module."""
    test = re.search(r"#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{", text)
    if test:
        text = text[: test.start()]
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    text = re.sub(r"//[^\n]*", " ", text)
    return text


def expand_use(tree: str):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix: str, s: str):
        i = s.find("{")
        if i < 0:
            for part in split_top(s):
                out.append(prefix + part)
            return
        head, body = s[:i], s[i + 1 : s.rfind("}")]
        for part in split_top(body):
            walk(prefix + head, part)

    def split_top(s: str):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        return parts

    walk("", tree)
    return [re.sub(r"\bas\b.*$", "", p) for p in out if p]


def referenced_paths(module: str, code: str):
    """Absolute `a::b::c` paths the code names, from `use` trees and inline paths."""
    here = module.split("::") if module else []
    paths = []
    for match in re.finditer(r"\buse\s+([^;]+);", code):
        paths.extend(expand_use(match.group(1)))
    paths.extend(m.group(0) for m in re.finditer(r"\b(?:crate|super)(?:::\w+)+", code))
    resolved = []
    for path in paths:
        segs = [s for s in path.split("::") if s]
        if not segs:
            continue
        if segs[0] == "crate":
            resolved.append(segs[1:])
        elif segs[0] in ("super", "self"):
            base = list(here)
            # `super` in a mod.rs file is the parent directory's module; in x.rs it is the parent.
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super" and base:
                    base.pop()
                segs = segs[1:]
            resolved.append(base + segs)
    return resolved


def main() -> int:
    modules = {}
    for path in sorted(SRC.rglob("*.rs")):
        name = module_of(path)
        if name:
            modules[name] = strip_code(path.read_text())
    edges = {m: set() for m in modules}
    for module, code in modules.items():
        for segs in referenced_paths(module, code):
            target = None
            for n in range(len(segs), 0, -1):
                candidate = "::".join(segs[:n])
                if candidate in modules:
                    target = candidate
                    break
            if target is None or target == module:
                continue
            if module.startswith(target + "::"):
                continue  # a child naming its ancestor
            edges[module].add(target)

    problems = []

    def find_cycles(graph):
        cycles, state, stack = [], {}, []

        def visit(node):
            state[node] = 1
            stack.append(node)
            for nxt in sorted(graph.get(node, ())):
                if state.get(nxt) == 1:
                    cycles.append(stack[stack.index(nxt) :] + [nxt])
                elif nxt not in state:
                    visit(nxt)
            stack.pop()
            state[node] = 2

        for node in sorted(graph):
            if node not in state:
                visit(node)
        return cycles

    for cycle in find_cycles(edges):
        problems.append("file-level circle: " + " -> ".join(cycle))

    # Leaves: modules that name nothing in the crate, and modules that name only those (one
    # step, not a closure: in a graph without circles everything would be a leaf eventually).
    bare = {m for m, t in edges.items() if not t}
    leaves = bare | {m for m, t in edges.items() if t <= bare}

    top = {}
    for module, targets in edges.items():
        a = module.split("::")[0]
        for t in targets:
            b = t.split("::")[0]
            if a == b:
                continue
            if b == ROOT and t != ROOT_LEAF and not t.startswith(ROOT_LEAF + "::"):
                problems.append(f"{module} names the composition root {t}")
            if b == ROOT or t in leaves:
                continue
            top.setdefault(a, set()).add(b)
    for cycle in find_cycles(top):
        problems.append("top-level circle: " + " -> ".join(cycle))

    for module, targets in sorted(edges.items()):
        for prefix, banned in FORBIDDEN.items():
            if module == prefix or module.startswith(prefix + "::"):
                for t in sorted(targets):
                    if any(t == b or t.startswith(b + "::") for b in banned):
                        problems.append(f"{module} names pipeline internal {t}")
        if module == "detect" or module.startswith("detect::"):
            for t in sorted(targets):
                head = t.split("::")[0]
                if head != "detect" and head not in DETECT_MAY_NAME:
                    problems.append(f"{module} names {t} (detect may name only {sorted(DETECT_MAY_NAME)})")

    if "--graph" in sys.argv:
        for a in sorted(top):
            print(f"{a} -> {', '.join(sorted(top[a]))}")
    for p in problems:
        print(p)
    if problems:
        print(f"check-layers: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check-layers: {len(modules)} modules, no circle, layers kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
