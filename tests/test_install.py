"""The wheel, as a user installs it: one top-level name, everything inside it, and a command that works
from a folder with its own `data/`, `eval/` and `inference/` beside another distribution's `inference`.

The wheel is built from the checkout's files (tracked and new, not ignored ones) and installed without
dependencies into a fresh virtual environment whose dependencies come from this environment's
site-packages through a path entry: no network, no torch download, and this environment's editable
install of the checkout stays inactive there (its finder is a `.pth` hook, which a path entry does not run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("common", "data", "sft", "inference", "eval", "ibpo", "grading")


def _run(cmd: list[str], cwd: Path, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    environ = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "HF_HUB_OFFLINE": "1", **env}
    if "THINKSCALE_CACHE" in os.environ:
        environ["THINKSCALE_CACHE"] = os.environ["THINKSCALE_CACHE"]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environ)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def _pip(*args: str, cwd: Path) -> None:
    _run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], cwd=cwd)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The checkout's wheel, built from a copy of its files (as a fresh clone has them)."""
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")  # fmt: skip
    for name in filter(None, files):
        if (ROOT / name).is_symlink():  # thinkscale/<stage> -> ../<stage>, as git checks it out
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(ROOT / name), src / name)
        elif (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src), cwd=out)
    [built] = out.glob("thinkscale-*.whl")
    return built


def test_the_wheel_holds_thinkscale_only_and_all_of_it(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"thinkscale", f"{wheel.name.split('-py')[0]}.dist-info"}
    modules = {
        f"thinkscale/{p.relative_to(ROOT).as_posix()}" for s in STAGES for p in (ROOT / s).rglob("*.py")
    }
    assert modules - set(names) == set()
    assert {"thinkscale/recipes/smollm2-135m/eval.yaml", "thinkscale/recipes/accelerate/fsdp_trainer.json",
            "thinkscale/vllm.py", "thinkscale/cli.py", "thinkscale/eval/view_template.html"} <= set(names)  # fmt: skip
    meta = {n.rsplit("/", 1)[-1]: n for n in names if ".dist-info/" in n}
    entry = zipfile.ZipFile(wheel).read(meta["entry_points.txt"]).decode()
    assert "thinkscale = thinkscale.cli:entry" in entry and "LICENSE" in meta


def _shadow_distribution(tmp: Path) -> Path:
    """A wheel of another distribution that installs a top-level `inference` package."""
    src = tmp / "shadow"
    (src / "inference").mkdir(parents=True)
    (src / "inference" / "__init__.py").write_text("SHADOW = 'the other distribution'\n")
    (src / "pyproject.toml").write_text(
        textwrap.dedent("""\
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "inference-shadow"
        version = "1.0"
        [tool.setuptools]
        packages = ["inference"]
    """)
    )
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp), str(src), cwd=tmp)
    [built] = tmp.glob("inference_shadow-*.whl")
    return built


def test_installed_command_works_beside_user_folders_and_another_inference(wheel, tmp_path):
    env = tmp_path / "env"
    venv.create(env, with_pip=False)
    py = env / "bin" / "python"
    purelib = _run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path
    ).stdout.strip()
    # this environment's dependencies (torch, transformers, ...) on the new one's path, its .pth hooks not run
    Path(purelib, "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _pip(
        "--python",
        str(py),
        "install",
        "--no-deps",
        str(wheel),
        str(_shadow_distribution(tmp_path)),
        cwd=tmp_path,
    )
    assert sorted(p.name for p in Path(purelib).iterdir() if not p.name.endswith((".dist-info", ".pth"))) == [
        "inference", "thinkscale"]  # fmt: skip

    work = tmp_path / "work"  # a user's project with folders named like our stages
    for folder in ("data", "eval", "inference"):
        (work / folder).mkdir(parents=True)
        (work / folder / "__init__.py").write_text(
            f"raise ImportError('the user folder {folder}/ was imported')\n"
        )
    tool = str(env / "bin" / "thinkscale")
    assert "usage: thinkscale" in _run([tool, "--help"], work).stdout
    assert "usage: thinkscale eval" in _run([tool, "eval", "--help"], work).stdout
    code = ("import sys, thinkscale; from thinkscale.inference.forcing.budget import BudgetRequest; import thinkscale.cli; "
            "thinkscale.grade; assert not {'data', 'eval', 'inference', 'common'} & set(sys.modules), sys.modules.keys(); "
            "print(thinkscale.__file__)")  # fmt: skip
    assert _run([str(py), "-c", code], work).stdout.startswith(purelib)
    # the other distribution's package is intact (nothing of ours overwrote it)
    assert (
        "the other distribution"
        in _run([str(py), "-c", "import inference; print(inference.SHADOW)"], tmp_path).stdout
    )
    chat = _run([tool, "chat", "--prompt", "What is 7 + 5?", "--json", "--max-thinking-tokens", "16",
                 "--max-answer-tokens", "8"], work, timeout=600)  # fmt: skip
    import json

    result = json.loads(chat.stdout)
    assert {"thinking", "answer", "thinking_tokens", "stop_reason"} <= set(result) and result[
        "prompt_tokens"
    ] > 0
    recipes = _run([tool, "recipes", "--path"], work).stdout
    assert f"{purelib}/thinkscale/recipes/smollm2-135m/eval.yaml" in recipes
    run = work / "run"  # the report's page template ships with the package
    run.mkdir()
    (run / "samples.jsonl").write_text(
        json.dumps({"id": "q", "label": "budget_forcing", "budget": 8, **result}) + "\n"
    )
    _run([tool, "view", str(run)], work)
    assert "thinking_tokens" in (run / "report.html").read_text()
