"""Backend settings and the vLLM engine's rules that need no real engine (fake vLLM, config files)."""

import json

import pytest

from tests.scripted import FakeLLM, FakeSamplingParams, ScriptedLM
from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.backend import BackendArgs
from thinkscale.inference.forcing.budget import BudgetRequest
from thinkscale.inference.hf.engine import HFEngine
from thinkscale.inference.vllm.engine import VLLMEngine
from thinkscale.inference.vllm.launch import llm_kwargs
from thinkscale.inference.vllm.process import cpu_environment

FMT = FormatArgs()


def test_vllm_kwargs_follow_the_flags():
    cpu = llm_kwargs(
        BackendArgs(backend="vllm", max_model_len=4096, kv_cache_gib=1.5), "float32", on_cuda=False
    )
    assert cpu["kv_cache_memory_bytes"] == int(1.5 * 2**30) and cpu["max_model_len"] == 4096
    assert cpu["dtype"] == "float32" and cpu["enforce_eager"] and cpu["enable_prefix_caching"]
    assert (
        llm_kwargs(BackendArgs(backend="vllm"), "float32", on_cuda=False)["kv_cache_memory_bytes"]
        == 2 * 2**30
    )
    gpu = llm_kwargs(
        BackendArgs(backend="vllm", tensor_parallel_size=8, enforce_eager=False), "bfloat16", on_cuda=True
    )
    assert gpu["tensor_parallel_size"] == 8 and gpu["gpu_memory_utilization"] == 0.9
    assert "kv_cache_memory_bytes" not in gpu and not gpu["enforce_eager"]
    assert set(cpu_environment()) == {"VLLM_CPU_OMP_THREADS_BIND"}
    # unset: eager on a CPU, CUDA graphs on CUDA
    assert not llm_kwargs(BackendArgs(backend="vllm"), "bfloat16", on_cuda=True)["enforce_eager"]


def test_async_scheduling_is_turned_off_only_where_the_processor_needs_it(monkeypatch):
    """V1 shows the processor placeholder tokens under async scheduling (it refuses to start so); V2
    feeds it the real ones, so vLLM's default stays."""
    from thinkscale.inference.forcing.batch import PROCESSOR

    monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", "0")
    assert llm_kwargs(BackendArgs(backend="vllm"), "float32", False, [PROCESSOR])["async_scheduling"] is False
    monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", "1")
    assert "async_scheduling" not in llm_kwargs(BackendArgs(backend="vllm"), "bfloat16", True, [PROCESSOR])
    assert "async_scheduling" not in llm_kwargs(BackendArgs(backend="vllm"), "float32", False)


@pytest.mark.parametrize("kwargs, needle", [
    ({"backend": "sglang"}, "--backend 'sglang' is not one of hf, vllm"),
    ({"tensor_parallel_size": 0}, "--tensor-parallel-size must be >= 1"),
    ({"max_model_len": 1}, "--max-model-len must be >= 2"),
    ({"kv_cache_gib": 0}, "--kv-cache-gib must be > 0"),
    ({"gpu_memory_utilization": 1.5}, "--gpu-memory-utilization"),
])  # fmt: skip
def test_impossible_backend_settings(kwargs, needle):
    with pytest.raises(ValueError) as e:
        BackendArgs(**kwargs)
    assert needle in str(e.value)


def test_missing_vllm_names_the_install_command(monkeypatch):
    import importlib.util

    from thinkscale.inference.engine_args import build_engine
    from thinkscale.inference.models.load import ModelArgs

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a)
    )
    with pytest.raises(ValueError, match="make setup-vllm"):
        build_engine(ModelArgs(), FMT, BackendArgs(backend="vllm"))


def test_data_parallel_replicas_get_disjoint_devices(monkeypatch):
    from thinkscale.inference.vllm.dp import device_slices

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4,5,6,7")
    assert device_slices(2, 4, on_cuda=True) == [
        {"CUDA_VISIBLE_DEVICES": "0,1,2,3"},
        {"CUDA_VISIBLE_DEVICES": "4,5,6,7"},
    ]
    with pytest.raises(ValueError, match="needs 16 GPUs; 8 are visible"):
        device_slices(4, 4, on_cuda=True)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert device_slices(2, 1, on_cuda=False) == [
        {"VLLM_CPU_OMP_THREADS_BIND": "0,1"},
        {"VLLM_CPU_OMP_THREADS_BIND": "2,3"},
    ]
    with pytest.raises(ValueError, match="needs at least 8 cores"):
        device_slices(8, 1, on_cuda=False)


def test_eos_ids_come_from_config_and_generation_config(tmp_path):
    from thinkscale.inference.models.load import source_eos_ids

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "eos_token_id": 2}))
    assert source_eos_ids(str(tmp_path)) == {2}  # no generation_config.json: the config's EOS alone
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [2, 30]}))
    assert source_eos_ids(str(tmp_path)) == {2, 30}


@pytest.mark.parametrize("context", [60, 61, 64, 70])
def test_the_context_ends_one_request_alike_on_both_engines(tokenizer, context):
    """Scripted: a request whose sequence fills the context stops alone with context_length, with the
    same counts on both engines (forced Waits and delimiters crossing the boundary included)."""
    X, S = (tokenizer.encode(t, add_special_tokens=False)[0] for t in (" step", "<|im_start|>"))
    prompt = render_prompt(tokenizer, FMT, "What is 2 + 2?")
    n = len(tokenizer.encode(prompt, add_special_tokens=False))
    script = [X, X, S, X, S, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X]
    reqs = [BudgetRequest(prompt, min_thinking_tokens=30, max_thinking_tokens=40, max_answer_tokens=8)]
    hf = HFEngine(ScriptedLM(script, n, len(tokenizer)), tokenizer, FMT, max_context=context).generate(reqs)[
        0
    ]
    vl = VLLMEngine(FakeLLM(script, n), tokenizer, FMT, max_context=context,
                    sampling_params_cls=FakeSamplingParams).generate(reqs)[0]  # fmt: skip
    assert hf.stop_reason == "context_length"
    assert {**hf.to_dict(), "seconds": 0} == {**vl.to_dict(), "seconds": 0}


def test_vllm_results_come_back_per_chunk(tokenizer):
    prompt = render_prompt(tokenizer, FMT, "What is 2 + 2?")
    n = len(tokenizer.encode(prompt, add_special_tokens=False))
    eot = tokenizer.encode("<|im_end|>", add_special_tokens=False)[0]
    llm = FakeLLM([eot], n)
    engine = VLLMEngine(llm, tokenizer, FMT, chunk_size=2, sampling_params_cls=FakeSamplingParams)
    seen = []

    def on_result(i, r):
        seen.append((i, len(llm.calls)))

    engine.generate(
        [BudgetRequest(prompt, max_thinking_tokens=4, max_answer_tokens=2)] * 5, on_result=on_result
    )
    # chunks of 2, 2, 1; each chunk is two rounds (thinking, answer); results leave after their chunk
    assert seen == [(0, 4), (1, 4), (2, 8), (3, 8), (4, 10)]


@pytest.mark.parametrize("system_prompt", [None, "You are Qwen, created by Alibaba Cloud."])
def test_the_servers_chat_template_renders_prompts_as_the_offline_engines_do(tokenizer, system_prompt):
    from thinkscale.inference.vllm.serve import chat_template

    fmt = FormatArgs(system_prompt=system_prompt)
    msgs = [{"role": "user", "content": "What is 2 + 2?"}]
    served = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True,
                                           chat_template=chat_template(tokenizer, fmt))  # fmt: skip
    assert served == render_prompt(tokenizer, fmt, "What is 2 + 2?")


def test_the_server_command_loads_the_processor_and_the_parser():
    from thinkscale.inference.vllm.serve import ServeArgs, server_command

    argv = server_command("/models/m", "/tmp/t.jinja", ServeArgs(port=8123), BackendArgs(max_model_len=4096),
                          "float32", on_cuda=False, extra=["--api-key", "k"])  # fmt: skip
    line = " ".join(argv)
    assert "-m vllm.entrypoints.openai.api_server --model /models/m --host 127.0.0.1 --port 8123" in line
    assert "--logits-processors thinkscale.vllm:BudgetForcingProcessor --no-async-scheduling" in line
    assert "--reasoning-parser-plugin thinkscale.vllm --reasoning-parser thinkscale" in line
    assert "--kv-cache-memory-bytes 2147483648" in line and "--max-model-len 4096" in line
    assert "--generation-config vllm" in line and "--chat-template /tmp/t.jinja" in line
    assert argv[-2:] == ["--api-key", "k"]
