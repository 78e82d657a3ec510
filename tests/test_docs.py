"""Every code block of the README and docs/ runs, and what a console block shows is what it prints.

Code blocks are fences tagged `python`, `bash` or `console`; `text`, `yaml`, `bibtex` and untagged
fences are data or output, not code. A block runs as it is written:
- `python`: the block as a script, from an empty folder;
- `bash`: the block as a script (`bash -e`), from the repository root;
- `console`: each `$ ` line (with its `\\` continuations) is run from the repository root, and its
  output must match the lines below it, where `...` stands for any text (a timing, a long JSON value).

A comment on the line before a fence changes that, and says why:
- `<!-- doc-test: skip gpu (...) -->` / `skip network (...)`: needs a GPU or the network; skipped;
- `<!-- doc-test: vllm -->`: needs vLLM; runs with the `vllm` marker (`make test-vllm`);
- `<!-- doc-test: dry (...) -->`: a pipeline stage too long for a test (minutes to hours): each
  `make` line runs as `make -n` and each `thinkscale` line (also after torchrun / accelerate launch)
  with `--print-config`, so the targets, subcommands, recipes and flags are checked, not run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = {"python", "bash", "console"}
MARKER = re.compile(r"<!-- doc-test: (skip (gpu|network)|vllm|dry)\b(.*?)-->")
TIMEOUT = 600


@dataclass
class Block:
    page: str
    line: int
    lang: str
    text: str
    marker: str  # "", "skip", "vllm" or "dry"
    why: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(page: Path) -> list[Block]:
    found, lines = [], page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^```(\w*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = lines[i - 1] if i else ""
        marker = MARKER.search(before)
        kind = "" if not marker else marker.group(1).split()[0]
        found.append(Block(str(page.relative_to(ROOT)), i + 1, opening.group(1), "\n".join(lines[i + 1 : end]) + "\n",
                           kind, (marker.group(0) if marker else "")))  # fmt: skip
        i = end + 1
    return found


ALL = [b for page in PAGES for b in blocks(page)]


def params():
    for b in ALL:
        if b.lang not in CODE:
            continue
        marks = [pytest.mark.vllm] if b.marker == "vllm" else []
        yield pytest.param(b, id=b.id, marks=marks)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = (
        f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"  # `thinkscale`
    )
    env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONPATH"] = str(ROOT)
    return env


def _sh(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=TIMEOUT)  # fmt: skip


def _commands(text: str) -> list[tuple[str, list[str]]]:
    """A console block's (command, expected output lines) pairs."""
    pairs: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise AssertionError(f"console block: output before a command: {lines[i]!r}")
        command = lines[i][2:]
        while command.endswith("\\"):
            i += 1
            command = command[:-1] + lines[i]
        i += 1
        expected = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        pairs.append((command, expected))
    return pairs


def _matches(expected: list[str], actual: str) -> bool:
    pattern = re.escape("\n".join(expected).strip()).replace(re.escape("..."), ".*?")
    return re.fullmatch(pattern, actual.strip(), re.S) is not None


def _dry(line: str) -> str | None:
    """The checking form of one command line of a `dry` block (None: a comment or blank)."""
    line = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
    if not line:
        return None
    words = shlex.split(line)
    if words[0] == "make":
        return shlex.join(["make", "-n", *words[1:]])
    if (
        "thinkscale" in words
    ):  # thinkscale ..., torchrun ... -m thinkscale ..., accelerate launch ... -m thinkscale ...
        at = words.index("thinkscale")
        return shlex.join(["thinkscale", *words[at + 1 :], "--print-config"])
    raise AssertionError(f"a dry block holds make and thinkscale lines only: {line!r}")


def test_pages_have_code_blocks_and_known_markers():
    assert len([b for b in ALL if b.lang in CODE]) >= 10
    for page in PAGES:
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if "doc-test:" in line:
                assert MARKER.search(line), f"{page.name}:{n}: unknown doc-test marker {line!r}"


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def test_relative_links_and_images_resolve_from_their_page():
    # A page's links are read by a browser relative to that page (a docs/ page's image is img/x.png,
    # not docs/img/x.png); a broken one shows as a missing plot, which nothing else would catch.
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            path = target.split("#", 1)[0]
            if (
                path
                and "://" not in path
                and not path.startswith("mailto:")
                and not (page.parent / path).exists()
            ):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


@pytest.mark.parametrize("block", params())
def test_code_block(block: Block, tmp_path):
    if block.marker == "skip":
        pytest.skip(block.why)
    if block.marker == "dry":
        joined = block.text.replace("\\\n", " ")
        for command in filter(None, map(_dry, joined.splitlines())):
            proc = _sh(command, ROOT)
            assert proc.returncode == 0, f"{block.id}: {command}\n{proc.stderr[-3000:]}"
        return
    if block.lang == "python":
        script = tmp_path / "block.py"
        script.write_text(block.text)
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                              timeout=TIMEOUT)  # fmt: skip
        assert proc.returncode == 0, f"{block.id}\n{proc.stderr[-3000:]}"
    elif block.lang == "bash":
        proc = _sh(block.text, ROOT)
        assert proc.returncode == 0, f"{block.id}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    else:
        for command, expected in _commands(block.text):
            proc = _sh(command, ROOT)
            assert proc.returncode == 0, f"{block.id}: {command}\n{proc.stderr[-3000:]}"
            assert _matches(expected, proc.stdout), f"{block.id}: {command}\nexpected:\n" + "\n".join(
                expected) + f"\ngot:\n{proc.stdout[-3000:]}"  # fmt: skip
