"""A PRM on a real vLLM pooling instance scores as the PRM in transformers does, reading from its prefix cache.

    make test-vllm

The tiny PRM (`tests.tiny_prm`: Qwen2.5-Math-PRM's checkpoint format, random weights) is loaded both
ways: by vLLM's own `Qwen2ForProcessRewardModel` (`eval.verifier.vllm_prm.VllmPRM`) and by
transformers through its remote code (`eval.verifier.verifiers.HubPRM`, as a Hub PRM is loaded). The
paths are the embedded model's own greedy steps, scored depth by depth as a beam search scores them.
"""

import pytest

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.eval.compute import Compute
from thinkscale.eval.policy import Policy, PolicySettings
from thinkscale.inference.backend import BackendArgs
from thinkscale.inference.hf.tree import Expansion, TreeDecoder

pytestmark = pytest.mark.vllm

QUESTIONS = ["Compute (4 + 3) * 5 - 6. Explain step by step.", "What is 12 * 11? Explain step by step."]


def test_prm_scores_on_vllm_equal_transformers_and_reuse_the_prefix_cache(
    real_prm, tiny_prm_dir, embedded_fp32
):
    from thinkscale.eval.verifier.verifiers import HubPRM
    from thinkscale.eval.verifier.vllm_prm import VllmPRM, prm_parameters
    from thinkscale.inference.vllm.tree import EngineWork

    model, tok = embedded_fp32
    fmt = FormatArgs()
    policy = Policy(TreeDecoder(model, tok, fmt, batch_size=4), fmt, PolicySettings(step_delimiter="\n"))
    policy.tree.work = EngineWork()  # where the PRM's engine work goes (a VLLMTree's, here on the HF tree)
    on_vllm = VllmPRM(str(tiny_prm_dir), policy, BackendArgs(backend="vllm"), llm=real_prm())
    in_hf = HubPRM(str(tiny_prm_dir), policy)
    assert on_vllm.params == in_hf.params == prm_parameters(str(tiny_prm_dir))

    spec = Expansion(until="step", step_delimiter="\n", temperature=0.0, max_step_tokens=16,
                     max_thinking_tokens=64, max_answer_tokens=8)  # fmt: skip
    # two roots per question, as a beam search's first depth has (greedy: two equal paths)
    nodes = policy.tree.roots([render_prompt(tok, fmt, q) for q in QUESTIONS for _ in "ab"])
    owners, depth, scored = [0, 0, 1, 1], 0, []
    while nodes:
        nodes = policy.tree.expand(nodes, spec, seeds=list(range(len(nodes))))
        questions = [QUESTIONS[q] for q in owners]
        charged, before = {}, policy.tree.work.prm_cached_tokens
        for name, verifier in (("vllm", on_vllm), ("hf", in_hf)):
            computes = [Compute() for _ in QUESTIONS]
            charged[name] = (
                verifier.score(policy, questions, nodes, owners, computes),
                [c.to_dict() for c in computes],
            )
        vl, hf = charged["vllm"], charged["hf"]
        assert vl[0] == pytest.approx(hf[0], abs=1e-5), depth
        assert vl[1] == hf[1]  # the same verifier tokens charged: every token of every path
        scored += vl[0]
        if depth:  # a deeper path's earlier steps come from the PRM's prefix cache
            assert policy.tree.work.prm_cached_tokens - before >= 32 * len(nodes), depth
        keep = [i for i, n in enumerate(nodes) if not n.done]
        nodes, owners, depth = [nodes[i] for i in keep], [owners[i] for i in keep], depth + 1
    assert depth >= 3 and len({round(s, 4) for s in scored}) > 4  # several depths, scores that differ
    work = policy.tree.work
    assert 0 < work.prm_cached_tokens < work.prm_tokens and work.prm_wall_s > 0
