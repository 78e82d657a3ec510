"""docs/file-tree.md names every module: each .py file of the package (the stage folders and
thinkscale/), tools/, bench/ and tests/ appears under its folder in the tree, and every .py name the
tree gives exists. A new module without its line fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = (
    "thinkscale",
    "common",
    "grading",
    "inference",
    "data",
    "sft",
    "eval",
    "ibpo",
    "tools",
    "bench",
    "tests",
)
NAMES = re.compile(r"^( *)(\S.*?)(?: {2,}|$)")


def tree_lines() -> list[str]:
    text = (ROOT / "docs" / "file-tree.md").read_text()
    return text.split("```\n", 2)[1].split("```", 1)[0].splitlines()


def blocks() -> dict[str, str]:
    """Folder path -> the text of its heading line and every line below it (deeper or continuation)."""
    lines, found, stack = tree_lines(), {}, []
    for i, line in enumerate(lines):
        m = NAMES.match(line)
        indent = len(m.group(1)) if m else 99
        if not m or indent > 16:  # a continuation of the line above
            continue
        level = indent // 2
        stack[level:] = []
        for name in m.group(2).split():
            if name.endswith("/"):
                path = "/".join([*stack, name.rstrip("/")])
                end = next((j for j in range(i + 1, len(lines)) if (n := NAMES.match(lines[j]))
                            and len(n.group(1)) <= indent), len(lines))  # fmt: skip
                found[path] = "\n".join(lines[i:end])
                stack.append(name.rstrip("/"))
                break
    return found


def modules() -> list[Path]:
    out = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if any(p.is_symlink() for p in [ROOT / rel.parts[0], *(ROOT / rel).parents][:-1]):
                continue
            if path.name == "__init__.py" and rel.parts[0] != "thinkscale" or "fixtures" in rel.parts:
                continue
            out.append(rel)
    return out


def test_every_module_has_its_line():
    found = blocks()
    missing = []
    for rel in modules():
        folder = next((p.as_posix() for p in rel.parents if p.as_posix() in found), None)
        if folder is None or rel.name not in found[folder]:
            missing.append(rel.as_posix())
    assert missing == []


def test_every_module_the_tree_names_exists():
    names = {p.name for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")} | {"view_template.html"}
    given = {w for line in tree_lines() for w in re.findall(r"[\w.]+\.py\b", line)}
    assert sorted(given - names) == []
