"""The `thinkscale` command: every subcommand answers --help, packaged recipes are found by name from any
folder, bad commands and recipe names get one clear line, `env` reports the installed versions, and the
toolkit imports itself only as `thinkscale.*`."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_plan import QWEN_32B
from thinkscale import cli

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("common", "data", "sft", "inference", "eval", "ibpo", "grading")
# Entry points that are set-up tools, not stages: `make setup-vllm` runs it as a module.
NOT_SUBCOMMANDS = {"inference.vllm.setup"}


def thinkscale(*args: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    """The command as a user runs it (the console script's code path: `python -m thinkscale`)."""
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "thinkscale", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip


def test_help_and_version_answer_without_importing_torch():
    code = ("import sys, thinkscale.cli as c; c.main(['--help']); c.main(['--version']); "
            "assert 'torch' not in sys.modules, 'torch imported'")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage: thinkscale" in proc.stdout and all(f"  {name} " in proc.stdout for name in cli.COMMANDS)
    from thinkscale import __version__

    assert f"thinkscale {__version__}" in proc.stdout


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_subcommand_answers_help(name, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # cli.main sets argv[0] for argparse's prog
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    out = capsys.readouterr().out
    assert done.value.code in (0, None) and f"usage: thinkscale {name}" in out, out[:500]


def test_every_stage_entry_point_is_a_subcommand():
    """A stage module that runs as `python -m` is reachable from the command (a new one must be added)."""
    mains = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for stage in STAGES for p in (ROOT / stage).rglob("*.py")
        if 'if __name__ == "__main__":' in p.read_text(encoding="utf-8")
    }  # fmt: skip
    assert mains - NOT_SUBCOMMANDS <= {module for module, _ in cli.COMMANDS.values()}


def test_unknown_command_and_unknown_recipe_name_one_line(tmp_path):
    proc = thinkscale("trian", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown command 'trian'" in proc.stderr
    proc = thinkscale("plan", "--config", "smollm2-135m/nope", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        "--config smollm2-135m/nope: no such recipe file, nor a recipe shipped with thinkscale" in proc.stderr
    )


def test_a_packaged_recipe_by_name_from_another_folder(tmp_path):
    """`--config qwen2.5-32b/sft` outside the checkout: the recipe, and the FSDP config it names, are the
    packaged files."""
    (tmp_path / "config.json").write_text(json.dumps(QWEN_32B))
    proc = thinkscale(
        "plan", "--config", "qwen2.5-32b/sft", "--model", str(tmp_path), "--gpus", "16", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "block 20000 tokens, 16 x 80 GiB" in proc.stdout and "-> fits" in proc.stdout
    listed = thinkscale("recipes", cwd=tmp_path).stdout.split()
    assert {"smollm2-135m/eval", "qwen2.5-32b/sft", "accelerate/fsdp_trainer"} <= set(listed)


def test_a_file_of_the_users_own_wins_over_the_packaged_recipe(tmp_path):
    from thinkscale.common.recipes import packaged_root, resolve

    assert resolve("smollm2-135m/eval") == packaged_root() / "smollm2-135m" / "eval.yaml"
    (tmp_path / "smollm2-135m").mkdir()
    own = tmp_path / "smollm2-135m" / "eval"
    own.write_text("model: mine\n")
    assert resolve(own) == own


def test_env_reports_the_installed_versions():
    import torch
    import transformers

    proc = thinkscale("env", "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    facts = json.loads(proc.stdout)
    assert facts["torch"] == torch.__version__.split("+")[0] or facts["torch"] == torch.__version__
    assert facts["transformers"] == transformers.__version__
    assert facts["vllm model runner"] in ("V1", "V2", None) and "cuda devices" in facts
    text = thinkscale("env", timeout=120).stdout
    assert "transformers" in text and "vllm model runner" in text


def _stage_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return [n for n in names if n.split(".")[0] in STAGES]


def test_the_toolkit_imports_itself_only_as_thinkscale():
    """A bare `import inference...` would load a second copy of a module (or someone else's package)."""
    folders = (*STAGES, "thinkscale", "tests", "bench")
    bare = {str(p.relative_to(ROOT)): found for f in folders for p in (ROOT / f).rglob("*.py")
            if (found := _stage_imports(p))}  # fmt: skip
    assert bare == {}


RECIPE_STAGES = ("chat", "generate", "data", "train", "plan", "eval", "verifier", "strategies", "asv-data",
                 "ibpo", "ibpo-eval", "serve")  # fmt: skip


@pytest.mark.parametrize("name", RECIPE_STAGES)
def test_stage_help_describes_shows_an_example_and_groups_the_flags(name, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    with pytest.raises(SystemExit):
        cli.main([name, "--help"])
    out = capsys.readouterr().out
    head, _, flags = out.partition("\noptions:\n")
    assert f"usage: thinkscale {name} [--config RECIPE]" in head and len(head.splitlines()) > 3
    assert f"    thinkscale {name} " in head or f"    make {name}" in head, head[:800]  # an example command
    assert "\nmodel:\n" in flags and "(default: " in flags  # grouped by concern, each default shown
    if name not in ("train", "plan", "data", "asv-data"):
        assert "\nbackend: the engine that decodes (hf, vllm):\n" in flags or name == "chat"


def test_plan_help_offers_only_what_plan_reads(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    with pytest.raises(SystemExit):
        cli.main(["plan", "--help"])
    assert "--restart" not in capsys.readouterr().out


def test_bad_input_is_one_line_and_a_bug_shows_its_traceback(monkeypatch, capsys):
    from thinkscale.common.config import run_cli
    from thinkscale.common.errors import ConfigError

    def user_error(argv):
        raise ConfigError("--budgets: must be positive")

    def bug(argv):
        raise ValueError("an internal invariant broke")

    with pytest.raises(SystemExit) as done:
        run_cli(user_error, [])
    assert done.value.code == 2 and capsys.readouterr().err == "error: --budgets: must be positive\n"
    with pytest.raises(ValueError, match="internal invariant"):  # not swallowed into "error: ..."
        run_cli(bug, [])
    monkeypatch.setenv("THINKSCALE_DEBUG", "1")
    with pytest.raises(ConfigError):
        run_cli(user_error, [])


def test_bad_input_in_the_package_is_raised_as_config_error():
    """`run_cli` prints only a ConfigError as one line; a bare ValueError of ours would show a traceback
    to a user who only mistyped a flag (as start_vllm's did)."""
    bare = [f"{p.relative_to(ROOT)}:{i}" for stage in (*STAGES, "thinkscale") for p in sorted((ROOT / stage).rglob("*.py"))
            if not (ROOT / stage).is_symlink()
            for i, line in enumerate(p.read_text().splitlines(), 1) if "raise ValueError(" in line]  # fmt: skip
    assert bare == []
