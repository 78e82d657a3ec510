"""Which verifier a spec names: `build_verifier(spec, policy, backend, dtype)`, the one entry point of
`eval.verifier` (examples in `eval.verifier.verifiers`)."""

from __future__ import annotations

from thinkscale.common.errors import ConfigError
from thinkscale.eval.verifier.verifiers import HubORM, HubPRM, ValueHeadVerifier
from thinkscale.eval.verifier.vllm_prm import VllmPRM


def build_verifier(spec: str | None, policy, backend=None, dtype: str = "auto"):
    """`value_head:<folder>`, `prm:<hub id or path>`, `orm:<hub id or path>`, or none for no verifier.

    On the vLLM backend (`backend.is_vllm`) a PRM runs as a vLLM pooling instance of its own
    (`eval.verifier.vllm_prm`) unless `backend.vllm_states` is transformers; `dtype` is its dtype
    (the policy's: auto = float32 on a CPU, bfloat16 on CUDA)."""
    if not spec or spec == "none":
        return None
    kind, _, where = spec.partition(":")
    if kind == "value_head" and where:
        return ValueHeadVerifier(where, policy)
    if kind == "prm" and where:
        if backend is not None and backend.is_vllm and backend.vllm_states == "pooling":
            return VllmPRM(where, policy, backend, dtype)
        return HubPRM(where, policy)
    if kind == "orm" and where:
        return HubORM(where, policy)
    raise ConfigError(
        f"--verifier {spec!r}: expected value_head:<folder>, prm:<model id>, orm:<model id> or none"
    )
