"""The chat's one-shot contract and the batch CLI, run as a user would (through run_cli)."""

import json

import pytest

from thinkscale.common.config import run_cli
from thinkscale.common.io import read_jsonl
from thinkscale.inference import chat, generate

CONTRACT = {"thinking", "answer", "thinking_tokens", "answer_tokens", "num_forced", "hit_max", "stop_reason"}


def run(main, argv):
    with pytest.raises(SystemExit) as e:
        run_cli(main, argv)
    return e.value.code


def test_one_shot_json_contract(tiny_model_dir, capsys):
    argv = ["--prompt", "What is 7 + 5?", "--json", "--model", str(tiny_model_dir), "--min-thinking-tokens", "3",
            "--max-thinking-tokens", "6", "--num-ignore", "1", "--ignore-string", "Hmm", "--max-answer-tokens", "4",
            "--temperature", "0", "--seed", "1"]  # fmt: skip
    assert run(chat.main, argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= CONTRACT
    assert out["thinking_tokens"] == 6 and out["hit_max"] and out["answer_tokens"] <= 4


@pytest.mark.parametrize("argv, needle", [
    (["--prompt", ""], "--prompt is empty"),
    (["--prompt", "hi", "--max-thinking-tokens", "-1"], "--max-thinking-tokens"),
    (["--prompt", "hi", "--min-thinking-tokens", "9", "--max-thinking-tokens", "3"], "larger than"),
    (["--prompt", "hi", "--model", "/nonexistent/model"], "cannot find model"),
])  # fmt: skip
def test_bad_input_is_one_line(argv, needle, capsys):
    assert run(chat.main, argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_generate_cli_resumes(tiny_model_dir, tmp_path):
    src, dst = tmp_path / "q.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps({"question": f"What is {i} + {i}?"}) + "\n" for i in range(4)))
    argv = ["--input", str(src), "--output", str(dst), "--model", str(tiny_model_dir), "--max-thinking-tokens", "5",
            "--max-answer-tokens", "3"]  # fmt: skip
    assert run(generate.main, argv) == 0
    first = read_jsonl(dst)
    assert [r["id"] for r in first] == [1, 2, 3, 4] and all(r["thinking_tokens"] == 5 for r in first)
    # simulate an interrupted run: drop two finished rows and tear the last line
    lines = dst.read_text().splitlines(keepends=True)
    dst.write_text("".join(lines[:2]) + lines[2][:20])
    assert run(generate.main, argv) == 0
    again = read_jsonl(dst)
    assert sorted(r["id"] for r in again) == [1, 2, 3, 4]
    assert {r["id"]: r["answer"] for r in again} == {r["id"]: r["answer"] for r in first}
    assert (tmp_path / "out.jsonl.config.yaml").is_file()


def test_generate_cli_names_bad_rows(tiny_model_dir, tmp_path, capsys):
    src = tmp_path / "q.jsonl"
    src.write_text('{"question": "ok"}\n{"text": "no question"}\n')
    assert run(generate.main, ["--input", str(src), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "row 2 has no non-empty 'question' field" in capsys.readouterr().err


def test_generate_cli_refuses_an_empty_input(tmp_path, capsys):
    """The issue's case: an empty input file used to exit 0 silently."""
    src = tmp_path / "q.jsonl"
    src.write_text("")
    assert run(generate.main, ["--input", str(src), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert f"--input {src}: the file holds no rows" in capsys.readouterr().err
