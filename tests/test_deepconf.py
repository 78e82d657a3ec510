"""DeepConf: token and trace confidences, filtered confidence-weighted voting, the online stop on the
tree decoder, and both strategies end to end in the study."""

import json
import math
from types import SimpleNamespace

import pytest
import torch

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.eval.strategies.confidence import trace_confidence
from thinkscale.eval.strategies.deepconf import filtered_vote
from thinkscale.inference.forcing.steps import (
    CONF_TIE,
    LOW,
    confidence_from_logprobs,
    token_confidence,
    window_below,
)
from thinkscale.inference.hf.tree import Expansion, TreeDecoder

FMT = FormatArgs()


def test_token_confidence_is_minus_the_mean_top_k_logprob():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    logp = torch.log_softmax(logits.double(), -1)
    assert token_confidence(logits, 2) == pytest.approx(-float(logp[:2].mean()))
    peaked, flat = torch.tensor([9.0, 0.0, 0.0, 0.0]), torch.zeros(4)
    assert token_confidence(peaked, 3) > token_confidence(flat, 3)  # sure = high
    # vLLM's entries: the top-k by rank, plus the sampled token when it ranks lower (left out)
    e = {7: SimpleNamespace(logprob=-0.1, rank=1), 3: SimpleNamespace(logprob=-2.5, rank=2),
         9: SimpleNamespace(logprob=-6.0, rank=40)}  # fmt: skip
    assert confidence_from_logprobs(e, 2) == pytest.approx(1.3)


def test_trace_confidence_measures():
    c = trace_confidence([1.0, 2.0, 3.0, 4.0, 5.0], window=2)  # windows 1.5, 2.5, 3.5, 4.5
    assert c == {"mean": 3.0, "tail": 4.5, "bottom10": 1.5, "lowest": 1.5}
    short = trace_confidence([1.0, 3.0], window=8)  # no longer than a window: one window, all of it
    assert short == {"mean": 2.0, "tail": 2.0, "bottom10": 2.0, "lowest": 2.0}
    assert trace_confidence([], 4) is None
    assert (
        window_below([5, 1, 1], 2, 1.5)
        and not window_below([5, 1], 3, 9.0)
        and not window_below([5, 1, 3], 2, 1.5)
    )


def test_filtered_vote_keeps_the_top_eta_percent_and_merges_equivalent_answers():
    answers, confs = ["3", "3", "3", "1/2", "0.5", None], [1.0, 1.0, 1.0, 5.0, 4.0, 9.0]
    assert filtered_vote(answers, confs, 100) == "1/2"  # 1/2 and 0.5 are one answer: 9 > 3
    assert filtered_vote(["3", "3", "3", "7"], [1.0, 1.0, 1.0, 2.0], 100) == "3"  # weights: 3 > 2
    assert filtered_vote(["3", "3", "3", "7"], [1.0, 1.0, 1.0, 2.0], 10) == "7"  # only the most confident
    assert filtered_vote([None, None], [1.0, 2.0], 10) is None  # no answer, no vote
    # confidences within CONF_TIE of the threshold are at it: noise-level differences filter nothing
    assert filtered_vote(["7", "3", "3"], [2.0, 2.0 - CONF_TIE / 2, 2.0 - CONF_TIE / 2], 10) == "3"


@pytest.fixture(scope="module")
def tree(tiny_model):
    model, tok = tiny_model
    return TreeDecoder(model, tok, FMT, batch_size=4), tok


def test_the_online_stop_ends_a_path_at_its_first_low_window(tree):
    tree, tok = tree
    roots = tree.roots([render_prompt(tok, FMT, "What is 2 + 3?")])
    spec = Expansion(until="done", max_thinking_tokens=24, max_answer_tokens=4, temperature=1.0, confidence_k=20,
                     conf_window=4)  # fmt: skip
    free = tree.expand(roots * 2, spec, seeds=[3, 4])
    for n in free:  # every sampled token: thinking, the stop token if the model ended it, answer, end of turn
        assert (
            len(n.thinking_ids) + n.answer_sampled
            <= len(n.confs)
            <= len(n.thinking_ids) + n.answer_sampled + 2
        )
    whole = free[0]
    confs = whole.confs[: len(whole.thinking_ids)]
    windows = [sum(confs[i - 3 : i + 1]) / 4 for i in range(3, len(confs))]
    at = 3 + min(range(len(windows)), key=lambda i: windows[i])  # the lowest window ends here
    low = windows[at - 3]
    bar = (
        low + CONF_TIE + 1e-6
    )  # only that window (and any within 1e-6 of it) is below it by more than the tie
    first = 3 + next(i for i, w in enumerate(windows) if w < bar - CONF_TIE)
    stopped = tree.expand(roots, Expansion(**{**spec.__dict__, "stop_below": bar}), seeds=[3])[0]
    assert stopped.end == LOW and stopped.done and stopped.answer_ids == []
    assert (
        stopped.thinking_ids == whole.thinking_ids[: first + 1]
    )  # the same stream, cut at the window's last token
    assert stopped.confs == pytest.approx(whole.confs[: first + 1])
    never = tree.expand(roots, Expansion(**{**spec.__dict__, "stop_below": -1.0}), seeds=[3])[0]
    assert never.ids == whole.ids and never.end == "done"
    # the lowest window within CONF_TIE of the threshold is at it, not below: no stop
    tie = tree.expand(roots, Expansion(**{**spec.__dict__, "stop_below": low + CONF_TIE / 2}), seeds=[3])[0]
    assert tie.ids == whole.ids and tie.end == "done"


def test_a_confidence_stop_needs_confidences():
    with pytest.raises(ValueError, match="confidence_k"):
        Expansion(stop_below=1.0)


def _argv(model_dir, tmp_path, *extra):
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"id": f"q{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n"
                             for i in range(6)))  # fmt: skip
    return ["--model", str(model_dir), "--benchmark", str(bench), "--output-root", str(tmp_path), "--samples", "4",
            "--val-questions", "3", "--test-questions", "3", "--max-thinking-tokens", "12", "--max-answer-tokens", "4",
            "--conf-window", "4", "--deepconf-warmup", "2", *extra]  # fmt: skip


def test_deepconf_strategies_in_the_study(tiny_model_dir, tmp_path):
    """Offline DeepConf costs maj@k; online DeepConf draws waves after the warm-up, counts what
    stopped traces generated, and records its threshold, traces and vote."""
    from thinkscale.eval.strategies.run import main

    assert main(_argv(tiny_model_dir, tmp_path, "--name", "d", "--strategies", "majority", "deepconf",
                      "deepconf_online", "--deepconf-etas", "10", "100")) == 0  # fmt: skip
    out = tmp_path / "strategies" / "d"
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    by = {(r["label"], r["id"]): r for r in records}
    labels = {r["label"] for r in records}
    assert {"dc10@1", "dc10@4", "dc100@4", "dc10-online@4", "dc100-online@4"} <= labels
    for (label, q), r in by.items():
        if label.startswith("dc") and "online" not in label:
            k = label.split("@")[1]
            assert r["generated_tokens"] == by[(f"maj@{k}", q)]["generated_tokens"]  # majority's cost
    online = [r for r in records if r["strategy"] == "deepconf_online"]
    for r in online:
        info = r["deepconf"]
        assert 2 <= info["traces"] <= 4 and info["voted"] <= info["traces"] - info["stopped"]
        assert (
            r["model_calls"] == info["traces"]
            and r["generated_tokens"] >= by[("maj@2", r["id"])]["generated_tokens"]
        )
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert all(
        set(s["confidence"]) == {"mean", "tail", "bottom10", "lowest"} for e in samples for s in e["samples"]
    )
    assert math.isfinite(json.loads((out / "metrics.json").read_text())["labels"][0]["accuracy"])


def test_deepconf_refuses_samples_drawn_without_confidences(tiny_model_dir, tmp_path):
    from thinkscale.eval.strategies.run import main

    assert main(_argv(tiny_model_dir, tmp_path, "--name", "e", "--strategies", "majority")) == 0
    path = tmp_path / "strategies" / "e" / "samples.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for e in rows:
        for s in e["samples"]:
            s.pop("confidence")
    path.write_text("".join(json.dumps(e) + "\n" for e in rows))
    with pytest.raises(ValueError, match="no token confidences"):
        main(_argv(tiny_model_dir, tmp_path, "--name", "e", "--strategies", "deepconf"))
    with pytest.raises(ValueError, match="deepconf-warmup 8 must be <= --samples 4"):
        main(
            _argv(
                tiny_model_dir,
                tmp_path,
                "--name",
                "f",
                "--strategies",
                "deepconf_online",
                "--deepconf-warmup",
                "8",
            )
        )
