"""The strategy study end to end on the tiny model: outputs, resume, and bad input."""

import json

import pytest


def _bench(tmp_path, n=6):
    path = tmp_path / "q.jsonl"
    path.write_text(
        "".join(json.dumps({"question": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n" for i in range(n))
    )
    return path


def _argv(tiny_model_dir, tmp_path, *extra):
    return ["--model", str(tiny_model_dir), "--benchmark", str(_bench(tmp_path)), "--output-root", str(tmp_path),
            "--name", "s", "--strategies", "budget_forcing", "majority", "sequential_vote",
            "--bf-budgets", "4", "8", "--samples", "2", "--sv-trials", "2", "--sv-agree", "1",
            "--val-questions", "3", "--test-questions", "3", "--max-thinking-tokens", "8", "--max-answer-tokens", "3",
            "--step-delimiter", "\n", *extra]  # fmt: skip


def test_study_writes_its_report_and_resumes(tiny_model_dir, tmp_path, monkeypatch):
    from thinkscale.eval.strategies.run import main
    from thinkscale.inference.hf.tree import TreeDecoder

    assert main(_argv(tiny_model_dir, tmp_path)) == 0
    out = tmp_path / "strategies" / "s"
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    labels = {r["label"] for r in records}
    assert labels == {"bf@4", "bf@8", "maj@1", "maj@2", "sv K=2 M=1"}
    assert len(records) == 5 * 6 and {r["split"] for r in records} == {"val", "test"}
    assert all(
        r["generated_tokens"] > 0 and r["prompt_tokens"] > 0 and r["model_calls"] >= 1 for r in records
    )
    maj = {(r["label"], r["id"]): r for r in records if r["label"].startswith("maj")}
    assert all(maj[("maj@2", q)]["model_calls"] == 2 for (_, q) in maj)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {row["label"] for row in metrics["labels"]} == labels and metrics["policy_params"] > 0
    assert (out / "strategies.png").exists() and "| budget_forcing | bf@4 |" in (
        out / "summary.md"
    ).read_text()
    assert "oracle" in metrics["compute_optimal"]["kinds"]

    calls = []
    monkeypatch.setattr(TreeDecoder, "expand", lambda self, *a, **k: calls.append(1) or [])
    (out / "metrics.json").unlink()
    assert main(_argv(tiny_model_dir, tmp_path)) == 0  # everything is done: nothing is decoded again
    assert calls == [] and (out / "metrics.json").exists()
    assert json.loads((out / "metrics.json").read_text())["policy_params"] == metrics["policy_params"]


def test_study_refuses_what_it_cannot_run(tiny_model_dir, tmp_path):
    from thinkscale.eval.strategies.run import main

    with pytest.raises(ValueError, match="best_of_n needs a verifier"):
        main(_argv(tiny_model_dir, tmp_path, "--strategies", "best_of_n", "--name", "b"))
    with pytest.raises(ValueError, match="divisible by --beam-width"):
        main(_argv(tiny_model_dir, tmp_path, "--beam-n", "3", "--beam-width", "2"))
    with pytest.raises(ValueError, match="unknown"):
        main(_argv(tiny_model_dir, tmp_path, "--strategies", "mcts"))
    with pytest.raises(FileNotFoundError, match="train the value head"):
        main(_argv(tiny_model_dir, tmp_path, "--verifier", f"value_head:{tmp_path}/none", "--name", "c"))
    with pytest.raises(ValueError, match="expected value_head"):
        main(_argv(tiny_model_dir, tmp_path, "--verifier", "oracle", "--name", "d"))


def test_search_strategies_run_on_the_real_decoder_with_a_value_head(tiny_model_dir, tmp_path):
    """Every verifier strategy end to end on the tiny model, with a value head fitted on random states."""
    import torch

    from thinkscale.eval.strategies.run import main
    from thinkscale.eval.verifier.head import ValueHead

    x = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    ValueHead.fit(x, (x[:, 0] > 0).float()).save(tmp_path / "vh", {"model": str(tiny_model_dir)})
    argv = _argv(tiny_model_dir, tmp_path, "--name", "v", "--verifier", f"value_head:{tmp_path / 'vh'}",
                 "--strategies", "best_of_n", "adaptive_vote", "beam_search", "rebase", "--beam-n", "4",
                 "--beam-width", "2", "--rebase-width", "3", "--max-step-tokens", "3")  # fmt: skip
    assert main(argv) == 0
    records = [
        json.loads(line)
        for line in (tmp_path / "strategies" / "v" / "records.jsonl").read_text().splitlines()
    ]
    by = {}
    for r in records:
        by.setdefault(r["strategy"], []).append(r)
    assert set(by) == {
        "best_of_n",
        "best_of_n_weighted",
        "adaptive_vote[self]",
        "adaptive_vote[verifier]",
        "beam_search",
        "rebase",
    }
    for r in by["beam_search"]:
        assert all(t["candidates"] <= 4 and t["kept"] <= 2 for t in r["trace"])
        assert r["verifier_calls"] >= 4 and r["generated_tokens"] >= 4
    for r in by["rebase"]:
        assert all(sum(t["children"]) == 3 - t["finished"] for t in r["trace"])
    metrics = json.loads((tmp_path / "strategies" / "v" / "metrics.json").read_text())
    assert "predicted" in metrics["compute_optimal"]["kinds"]
    # the trees the report draws: every search record has one, with its answer's path marked
    for r in by["beam_search"] + by["rebase"]:
        assert r["tree"] and all(n["parent"] < n["id"] for n in r["tree"])
        assert r["answer"] is None or any(n["chosen"] for n in r["tree"])
    page = (tmp_path / "strategies" / "v" / "report.html").read_text()
    assert '"tree": [{' in page and "window.__report" in page
    # a head trained on another model's states is refused
    ValueHead.fit(x, (x[:, 0] > 0).float()).save(tmp_path / "other", {"model": "/elsewhere"})
    with pytest.raises(ValueError, match="reads /elsewhere"):
        main(_argv(tiny_model_dir, tmp_path, "--name", "w", "--verifier", f"value_head:{tmp_path / 'other'}"))


def test_a_hub_style_outcome_reward_model_plugs_in(tiny_model_dir, tmp_path, tokenizer):
    """`--verifier orm:<folder>`: a sequence classifier (here tiny and random) scores the paths, and
    what it reads is charged as verifier tokens."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from thinkscale.eval.strategies.run import main

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, num_labels=1,
                         pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    LlamaForSequenceClassification(config).save_pretrained(tmp_path / "orm")
    tokenizer.save_pretrained(tmp_path / "orm")
    argv = _argv(tiny_model_dir, tmp_path, "--name", "o", "--verifier", f"orm:{tmp_path / 'orm'}",
                 "--strategies", "best_of_n", "--samples", "2")  # fmt: skip
    assert main(argv) == 0
    records = [
        json.loads(line)
        for line in (tmp_path / "strategies" / "o" / "records.jsonl").read_text().splitlines()
    ]
    assert {r["label"] for r in records} == {"bon@1", "bon@2", "wbon@1", "wbon@2"}
    by = {(r["label"], r["id"]): r for r in records}
    assert all(by[("bon@2", q)]["verifier_tokens"] > by[("bon@1", q)]["verifier_tokens"] > 0 for _, q in by)
    samples = [
        json.loads(line)
        for line in (tmp_path / "strategies" / "o" / "samples.jsonl").read_text().splitlines()
    ]
    scores = [s["score"] for e in samples for s in e["samples"]]
    assert all(0.0 <= x <= 1.0 for x in scores) and len(set(scores)) > 1
    metrics = json.loads((tmp_path / "strategies" / "o" / "metrics.json").read_text())
    assert metrics["verifier"]["test"]["samples"] == 6


@pytest.mark.parametrize("kind", ["prm", "orm"])
def test_hub_verifiers_score_a_batch_as_they_score_one_path_at_a_time(tiny_model, tmp_path, tokenizer, kind):
    """A PRM or ORM reads a depth's paths in right-padded batches: the same scores as one by one, the
    same verifier tokens charged. (A tiny random model of each kind; its scores mean nothing.)"""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from thinkscale.common.chat_format import FormatArgs
    from thinkscale.eval.compute import Compute
    from thinkscale.eval.policy import Policy, PolicySettings
    from thinkscale.eval.verifier.build import build_verifier
    from thinkscale.inference.hf.tree import Expansion, TreeDecoder

    torch.manual_seed(0)
    if kind == "prm":  # Qwen2.5-Math-PRM's format, loaded through its remote code as a Hub PRM is
        from tests.tiny_prm import build

        build(tmp_path, tokenizer)
    else:
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=1, num_labels=1,
                             pad_token_id=tokenizer.pad_token_id)  # fmt: skip
        LlamaForSequenceClassification(config).save_pretrained(tmp_path)
        tokenizer.save_pretrained(tmp_path)
    model, tok = tiny_model
    fmt = FormatArgs()
    policy = Policy(TreeDecoder(model, tok, fmt), fmt, PolicySettings(step_delimiter="\n"))
    roots = policy.tree.roots([f"<|im_start|>user\nWhat is {i} + 1?<|im_end|>\n" for i in range(3)])
    spec = Expansion(until="done", temperature=1.0, max_thinking_tokens=12, max_answer_tokens=4)
    nodes = policy.tree.expand([r for r in roots for _ in range(2)], spec, seeds=list(range(6)))
    verifier = build_verifier(f"{kind}:{tmp_path}", policy)
    # questions of several lengths: the batches are padded
    questions = [
        q
        for q in ("What is 1 + 1?", "Add one to one.", "What do you get when you add one to one?")
        for _ in "ab"
    ]
    owners = [0, 0, 1, 1, 2, 2]
    scored = {}
    for size in (1, 4):
        verifier.batch_size, computes = size, [Compute() for _ in range(3)]
        scored[size] = (
            verifier.score(policy, questions, nodes, owners, computes),
            [c.to_dict() for c in computes],
        )
    assert scored[4][0] == pytest.approx(scored[1][0], abs=1e-5) and scored[4][1] == scored[1][1]
    assert all(c["verifier_calls"] == 2 for c in scored[1][1])
    assert len({c["verifier_tokens"] for c in scored[1][1]}) == 3
    assert len({round(x, 4) for x in scored[1][0]}) > 1 and all(0 < x < 1 for x in scored[1][0])
    if kind == "prm":  # on the vLLM backend, --vllm-states transformers keeps the PRM in transformers
        from thinkscale.eval.verifier.verifiers import HubPRM
        from thinkscale.inference.backend import BackendArgs

        on_vllm = build_verifier(
            f"prm:{tmp_path}", policy, BackendArgs(backend="vllm", vllm_states="transformers")
        )
        assert isinstance(on_vllm, HubPRM)
