"""Atomic writes, strict JSON-lines reading and the resumable appender."""

import json

import pytest

from thinkscale.common.io import JsonlAppender, atomic_dir, atomic_write_text, read_jsonl
from thinkscale.common.paths import output_root, stage_dir


def test_atomic_dir_keeps_target_on_error(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    assert (target / "a").read_text() == "1"
    with pytest.raises(RuntimeError), atomic_dir(target, replace=True) as tmp:
        (tmp / "a").write_text("2")
        raise RuntimeError("interrupted")
    assert (target / "a").read_text() == "1"  # the finished result survived the failed rewrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left behind
    with atomic_dir(target, replace=True) as tmp:
        (tmp / "a").write_text("3")
    assert (target / "a").read_text() == "3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_write_leaves_no_temp(tmp_path):
    atomic_write_text(tmp_path / "f.txt", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_read_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_text('{"a": 1}\n\n{"a": 2\n')
    with pytest.raises(ValueError, match=r"in\.jsonl:3: malformed JSON"):
        read_jsonl(p)
    p.write_text('{"a": 1}\n[1]\n')
    with pytest.raises(ValueError, match=r"in\.jsonl:2: expected a JSON object"):
        read_jsonl(p)


def test_appender_drops_torn_last_line(tmp_path):
    p = tmp_path / "out.jsonl"
    p.write_text(json.dumps({"i": 0}) + "\n" + '{"i": 1, "tex')  # killed mid-write
    with JsonlAppender(p) as w:
        w.write({"i": 1})
    assert read_jsonl(p) == [{"i": 0}, {"i": 1}]


def test_output_paths(monkeypatch, tmp_path):
    monkeypatch.delenv("THINKSCALE_OUTPUTS", raising=False)
    assert stage_dir("sft", "smollm2-135m") == output_root() / "sft" / "smollm2-135m"
    monkeypatch.setenv("THINKSCALE_OUTPUTS", str(tmp_path))
    assert stage_dir("eval", "run1") == tmp_path / "eval" / "run1"
    assert stage_dir("eval", "run1", root="elsewhere").parts[0] == "elsewhere"  # the flag wins
    with pytest.raises(ValueError, match="plain folder name"):
        stage_dir("data", "../escape")
    with pytest.raises(ValueError, match="unknown stage"):
        stage_dir("inference", "x")
