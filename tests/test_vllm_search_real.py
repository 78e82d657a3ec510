"""Step-wise expansion on a real vLLM engine equals the transformers tree decoder's, node by node.

    make test-vllm

The embedded model in fp32, greedy, on both trees; each case expands one question step by step
until it is answered and compares every node field by field. The cases are the step rule's hard
cuts, each found on the model's own greedy text ("Explain step by step" makes it think; a bare
question makes it end its turn at once).
"""

from dataclasses import replace

import pytest

from tests.conftest import VLLM_CONTEXT
from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.hf.tree import Expansion, TreeDecoder
from thinkscale.inference.vllm.tree import VLLMTree

pytestmark = pytest.mark.vllm

FMT = FormatArgs()
STEPPY = "Compute (4 + 3) * 5 - 6. Explain step by step."  # thinks: "To compute (4 + 3) * 5 - 6, we need ...\n\nFirst, ..."
FIELDS = ("ids", "prompt_tokens", "phase", "thinking_ids", "answer_ids", "new_ids", "generated", "answer_sampled",
          "end", "state_at")  # fmt: skip


@pytest.fixture(scope="module")
def trees(real_llm, embedded_fp32):
    source, llm, _ = real_llm
    model, tok = embedded_fp32
    from thinkscale.inference.models.load import source_eos_ids

    def make(fmt=FMT):
        hf = TreeDecoder(model, tok, fmt, batch_size=8)
        hf.max_context = VLLM_CONTEXT
        return hf, VLLMTree(llm, tok, fmt, extra_eos=source_eos_ids(source), max_context=VLLM_CONTEXT)

    return make, tok


def _walk(tree, question: str, spec: Expansion, fmt=FMT, branches: int = 1) -> list[list]:
    """Expand `branches` copies of the question's root step by step until every path is answered;
    every node of every depth, in order."""
    nodes = tree.roots([render_prompt(tree.tokenizer, fmt, question)]) * branches
    depths = []
    while nodes:
        nodes = tree.expand(nodes, spec, seeds=list(range(len(nodes))))
        depths.append(nodes)
        nodes = [n for n in nodes if not n.done]
    return depths


def _same(hf_depths, vl_depths) -> None:
    assert len(hf_depths) == len(vl_depths)
    for d, (a, b) in enumerate(zip(hf_depths, vl_depths, strict=True)):
        for x, y in zip(a, b, strict=True):
            for f in FIELDS:
                assert getattr(x, f) == getattr(y, f), (d, f, getattr(x, f), getattr(y, f))


def _greedy_thinking(tree, tok, question, fmt=FMT) -> list[str]:
    node = tree.expand(
        tree.roots([render_prompt(tok, fmt, question)]), Expansion(max_thinking_tokens=80), [0]
    )[0]
    return [tok.decode([t]) for t in node.thinking_ids]


STEP = Expansion(until="step", max_thinking_tokens=60, max_answer_tokens=6, max_step_tokens=96)


def test_a_delimiter_inside_a_multi_character_token_and_the_step_cap(trees):
    make, tok = trees
    hf, vl = make()
    for spec in (replace(STEP, step_delimiter="ti"), replace(STEP, step_delimiter="ti", max_step_tokens=5)):
        want, got = _walk(hf, STEPPY, spec), _walk(vl, STEPPY, spec)
        _same(want, got)
    ends = [n.end for d in want for n in d]
    assert "max_step_tokens" in ends  # the step cap of 5 cut somewhere
    texts = [
        tok.decode(n.new_ids[-1:]) for d in _walk(hf, STEPPY, replace(STEP, step_delimiter="ti")) for n in d
    ]
    assert any("ti" in t and len(t) > 2 for t in texts)  # " operations" ends a step


def test_a_step_that_begins_with_the_delimiter_goes_on(trees):
    """Delimiter "\\n": the model writes "\\n" "\\n", so the next step begins with one; vLLM stops
    there at its stop string and the step goes on in another round."""
    make, tok = trees
    hf, vl = make()
    spec = replace(STEP, step_delimiter="\n")
    before = vl.work.calls
    want, got = _walk(hf, STEPPY, spec), _walk(vl, STEPPY, spec)
    _same(want, got)
    assert any(tok.decode(n.new_ids).startswith("\n") for d in want[1:] for n in d)
    assert vl.work.calls - before > len(got) + 1  # a continuation round beyond one per depth (+ the answer)


def test_the_cap_on_the_delimiter_token_and_the_answer_cap(trees):
    make, tok = trees
    hf, vl = make()
    thinking = _greedy_thinking(hf, tok, STEPPY)
    cap = thinking.index("\n") + 1  # the token that reaches the cap is the first newline
    spec = replace(STEP, step_delimiter="\n", max_thinking_tokens=cap, max_answer_tokens=2)
    want, got = _walk(hf, STEPPY, spec), _walk(vl, STEPPY, spec)
    _same(want, got)
    assert len(want) == 1 and want[0][0].done and len(want[0][0].thinking_ids) == cap
    assert want[0][0].answer_sampled == 2  # the answer cap


def test_thinking_that_ends_mid_step_and_eos_in_thinking(trees):
    make, tok = trees
    fmt = replace(FMT, think_end=" we need")  # the model writes " we" mid-step: its first token ends thinking
    hf, vl = make(fmt)
    spec = replace(STEP, step_delimiter="\n\n")
    want, got = _walk(hf, STEPPY, spec, fmt), _walk(vl, STEPPY, spec, fmt)
    _same(want, got)
    assert len(want) == 1 and want[0][0].done and " we need" in tok.decode(want[0][0].new_ids)
    hf, vl = make()
    want, got = _walk(hf, "What is 7 + 5?", spec, branches=2), _walk(vl, "What is 7 + 5?", spec, branches=2)
    _same(want, got)
    assert want[0][0].thinking_ids == [] and want[0][0].done  # end of turn as the first thinking token


def test_sampled_branches_are_cut_by_the_same_rule(trees):
    """Sampling: vLLM's random stream is its own, but every step still ends where the rule says."""
    from thinkscale.inference.forcing.steps import thinking_cut

    make, tok = trees
    _, vl = make()
    spec = replace(STEP, step_delimiter="\n", temperature=1.0, answer_temperature=1.0, max_step_tokens=12)
    for depth in _walk(vl, STEPPY, spec, branches=4):
        for n in depth:
            if n.end in ("step", "max_step_tokens"):
                step = n.new_ids
                assert all(
                    thinking_cut(t, 0, step[:i], spec, (), vl.text) == "" for i, t in enumerate(step[:-1])
                )
                assert thinking_cut(step[-1], 0, step[:-1], spec, (), vl.text) == n.end


def test_a_path_at_the_context_is_refused_on_both(trees):
    make, tok = trees
    hf, vl = make()
    long = "Add these numbers one by one and explain each step: " + " + ".join(str(i) for i in range(62))
    spec = replace(STEP, step_delimiter="\n", max_thinking_tokens=200)
    for tree in (hf, vl):
        with pytest.raises(ValueError, match=f"context of {VLLM_CONTEXT} tokens"):
            _walk(tree, long, spec)


@pytest.mark.parametrize("round_tokens", [256, 16])  # 16: the stop falls in a later round than the first
def test_confidences_and_the_online_stop_are_equal_on_both(trees, monkeypatch, round_tokens):
    """DeepConf's token confidences (top-20 log-probabilities) within 1e-4 on both backends, and a
    confidence stop ending the path at the same token."""
    import thinkscale.inference.vllm.tree

    monkeypatch.setattr(thinkscale.inference.vllm.tree, "CONFIDENCE_ROUND", round_tokens)
    make, tok = trees
    hf, vl = make()
    spec = Expansion(
        until="done", max_thinking_tokens=60, max_answer_tokens=6, confidence_k=20, conf_window=8
    )
    prompt = render_prompt(tok, FMT, STEPPY)
    want, got = (t.expand(t.roots([prompt]), spec, [0])[0] for t in (hf, vl))
    assert want.confs == pytest.approx(got.confs, abs=1e-4) and len(want.confs) > len(want.thinking_ids)
    assert all(getattr(want, f) == getattr(got, f) for f in FIELDS)
    confs = want.confs[: len(want.thinking_ids)]
    windows = [sum(confs[i - 7 : i + 1]) / 8 for i in range(7, len(confs))]
    low = min(range(len(windows)), key=lambda i: windows[i])
    gap = min((w - windows[low] for i, w in enumerate(windows) if i != low and w > windows[low]), default=1.0)
    assert gap > 1e-3 and low > 16  # a bar well clear of the backends' differences, past the first round
    bar = windows[low] + gap / 2
    stops = [t.expand(t.roots([prompt]), replace(spec, stop_below=bar), [0])[0] for t in (hf, vl)]
    for s in stops:
        assert s.end == "low_confidence" and len(s.thinking_ids) == low + 8 and s.answer_ids == []
    assert all(getattr(stops[0], f) == getattr(stops[1], f) for f in FIELDS)
