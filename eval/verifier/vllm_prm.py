"""A process reward model on vLLM: a depth's paths in one `encode` call, prefix-cached.

    thinkscale strategies --backend vllm --verifier prm:Qwen/Qwen2.5-Math-PRM-7B ...

The PRM (a token classifier such as Qwen2.5-Math-PRM: `Qwen2ForProcessRewardModel` in vLLM) runs as
its own vLLM pooling instance beside the policy's engine (`inference.vllm.launch.start_vllm(pooling=
"reward")`). It reads exactly the tokens `HubPRM` reads (`PRMFormat.path_ids`, each path up to its last step
separator: `up_to_last_step`) and scores a path by P(positive) there, so the two give the same score.

Why it can reuse the prefix cache: a causal PRM's logits at the last separator depend only on the
tokens up to it, so each path is submitted ending there; the logits of the last token submitted are
the score. vLLM's token-classify requests skip the prefix cache by default (`PoolingParams.
skip_reading_prefix_cache`: a cached token yields no logits, and a request for every token's logits
needs them all); this one needs the last token's alone, which vLLM always computes, so it asks to
read the cache — and a path resubmitted at the next depth computes only the tokens its new step added
(less a partial cache block). The engine runs ALL token pooling for it (the model's own STEP pooling
turns prefix caching off). The same pooler code and request fields serve vLLM's V1 model runner (the
CPU, where this is tested) and Model Runner V2 (`vllm/v1/worker/gpu/pool/pooling_runner.py`, CUDA's
default): the scheduler decides the cache hit, the pooler returns the computed tokens' rows.

The compute charged is the papers' (every token of every path read, as `HubPRM` charges); what the
engine did goes into the policy's `EngineWork` as `prm_tokens`, `prm_cached_tokens` and `prm_wall_s`.
"""

from __future__ import annotations

import time

import torch
from transformers import AutoConfig, AutoModel

from thinkscale.eval.verifier.verifiers import PRMFormat, charge
from thinkscale.inference.models.load import resolve_model
from thinkscale.inference.vllm.launch import start_vllm
from thinkscale.inference.vllm.process import shutdown_llm


class VllmPRM(PRMFormat):
    """`prm:<model>` on the vLLM backend; see the module docstring."""

    def __init__(self, model_id: str, policy, backend, dtype: str = "auto", sep: str = "<extra_0>", llm=None):

        source = resolve_model(model_id)
        self._load_tokenizer(source, sep)
        self.name = f"prm:{model_id}"
        self.params = prm_parameters(source)
        self.work = getattr(policy.tree, "work", None)
        if llm is None:
            llm = start_vllm(source, backend, dtype, pooling="reward")
        self.llm = llm

    def score(self, policy, questions, nodes, owners, computes) -> list[float]:
        from vllm.pooling_params import PoolingParams

        ids = self.path_ids(policy, questions, nodes)
        heads = [self.up_to_last_step(row) for row in ids]
        params = PoolingParams(use_activation=False, skip_reading_prefix_cache=False)
        t0 = time.perf_counter()
        outs = self.llm.encode([{"prompt_token_ids": h} for h in heads], pooling_task="token_classify",
                               pooling_params=params, use_tqdm=False)  # fmt: skip
        scores = [float(torch.softmax(o.outputs.data[-1].double(), dim=-1)[1]) for o in outs]
        if self.work is not None:
            self.work.prm_wall_s += time.perf_counter() - t0
            for h, o in zip(heads, outs, strict=True):
                self.work.prm_tokens += len(h)
                self.work.prm_cached_tokens += o.num_cached_tokens or 0
        charge(computes, owners, ids)
        return scores

    def close(self) -> None:

        shutdown_llm(self.llm)


def prm_parameters(source: str) -> float:
    """A Qwen2.5-Math-PRM-style model's parameter count from its config alone: the decoder (built on the
    meta device) plus the score head vLLM builds for it (hidden -> hidden, ReLU, hidden -> 2, with biases)."""

    config = AutoConfig.from_pretrained(source)
    with torch.device("meta"):
        body = AutoModel.from_config(config)
    h = config.hidden_size
    return float(sum(p.numel() for p in body.parameters()) + h * h + h + h * 2 + 2)
