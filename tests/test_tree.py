"""The tree decoder: one-shot, step-wise and branched decoding agree with the budget-forcing engine."""

import pytest

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.forcing.budget import BudgetRequest
from thinkscale.inference.hf.engine import HFEngine
from thinkscale.inference.hf.tree import Expansion, TreeDecoder

FMT = FormatArgs()
QUESTIONS = ["What is 2 + 3?", "Name a prime number larger than ten, please.", "Compute (4 + 5) * 3 - 2."]


@pytest.fixture(scope="module")
def setup(tokenizer):
    """A tiny random model with large weights: its greedy text varies token to token (the shared tiny
    model repeats one newline), so a delimiter it emits mid-path can be picked."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=True, initializer_range=0.5)  # fmt: skip
    model = LlamaForCausalLM(config).eval()
    prompts = [render_prompt(tokenizer, FMT, q) for q in QUESTIONS]
    return model, tokenizer, TreeDecoder(model, tokenizer, FMT, batch_size=2), prompts


def test_greedy_tree_equals_the_budget_forcing_engine(setup):
    model, tok, tree, prompts = setup
    want = HFEngine(model, tok, FMT, batch_size=3).generate(
        [BudgetRequest(p, max_thinking_tokens=13, max_answer_tokens=6) for p in prompts]
    )
    spec = Expansion(until="done", max_answer_tokens=6, max_thinking_tokens=13)
    got = tree.expand(tree.roots(prompts), spec, seeds=[0, 0, 0])
    for g, w in zip(got, want, strict=True):
        assert (
            tok.decode(g.thinking_ids).strip() == w.thinking and tok.decode(g.answer_ids).strip() == w.answer
        )
        assert g.generated == w.generated_tokens and g.done


def test_step_by_step_decoding_reproduces_the_one_shot_path(setup):
    model, tok, tree, prompts = setup
    roots = tree.roots(prompts[:1])
    spec = Expansion(until="done", max_thinking_tokens=16, max_answer_tokens=4)
    whole = tree.expand(roots, spec, [0])[0]
    # a delimiter the random model really emits: the text of its fifth thinking token
    delim = tok.decode(whole.thinking_ids[4:5])
    assert delim, "the tiny model's fourth token decodes to nothing; pick another position"
    node, steps = roots[0], []
    while not node.done:
        node = tree.expand([node], Expansion(until="step", step_delimiter=delim, max_thinking_tokens=16,
                                             max_answer_tokens=4), [0])[0]  # fmt: skip
        steps.append(node)
    assert node.thinking_ids == whole.thinking_ids and node.answer_ids == whole.answer_ids
    assert node.generated == whole.generated
    assert steps[0].end == "step" and delim in tok.decode(steps[0].new_ids)
    assert sum(len(s.new_ids) for s in steps) == len(node.ids) - node.prompt_tokens


def test_branches_share_the_parent_and_follow_their_seeds(setup):
    _, tok, tree, prompts = setup
    root = tree.roots(prompts[1:2])[0]
    before = [k.clone() for k, _ in root.kv]
    spec = Expansion(
        until="done", max_thinking_tokens=8, max_answer_tokens=3, temperature=1.0, answer_temperature=1.0
    )
    kids = tree.expand([root] * 4, spec, seeds=[1, 1, 2, 3])
    assert kids[0].thinking_ids == kids[1].thinking_ids  # same seed, same sample, whatever the batch
    assert len({tuple(k.thinking_ids) for k in kids}) > 1
    assert all((k == b).all() for (k, _), b in zip(root.kv, before, strict=True))  # the parent is untouched
    alone = tree.expand([root], spec, seeds=[2])[0]
    assert alone.thinking_ids == kids[2].thinking_ids


def test_forced_text_and_forced_answer(setup):
    _, tok, tree, prompts = setup
    root = tree.roots(prompts[:1])[0]
    node = tree.expand(
        [root], Expansion(until="done", forced="Wait,", force_answer=True, max_answer_tokens=3), [0]
    )[0]
    assert tok.decode(node.thinking_ids) == "Wait,"
    text = tok.decode(node.new_ids)
    assert text.startswith("Wait," + FMT.think_end + FMT.final_answer_prefix) and node.done
    with pytest.raises(ValueError, match="finished node"):
        tree.expand([node], Expansion(), [0])


def test_bad_expansions_are_refused():
    with pytest.raises(ValueError, match="until"):
        Expansion(until="forever")
    with pytest.raises(ValueError, match="max-step-tokens"):
        Expansion(until="step", max_step_tokens=0)


@pytest.mark.parametrize("max_thinking", [16, 10])  # 10: a step of 5 ends on the token that hits the cap
def test_whole_paths_with_states_read_afterwards_equal_step_wise_sampling(setup, max_thinking):
    """The verifier trainer's vLLM route (whole path, step ends found afterwards, states read in one
    forward pass) gives the tree decoder's step-wise states, greedy; run here on the HF tree."""
    import torch

    from thinkscale.eval.benchmarks import Item
    from thinkscale.eval.policy import Policy, PolicySettings
    from thinkscale.eval.verifier.train import sample_paths, sample_whole_paths

    _, tok, tree, prompts = setup
    whole = tree.expand(
        tree.roots(prompts[:1]), Expansion(until="done", max_thinking_tokens=16, max_answer_tokens=4), [0]
    )[0]
    delim = tok.decode(whole.thinking_ids[4:5])
    items = [Item(id=str(i), question=q, gold="5") for i, q in enumerate(QUESTIONS)]
    policy = Policy(tree, FMT, PolicySettings(temperature=0.0, max_thinking_tokens=max_thinking, max_answer_tokens=4,
                                              step_delimiter=delim, max_step_tokens=5))  # fmt: skip
    steps, at_once = sample_paths(policy, items, 1, 0), sample_whole_paths(policy, items, 1, 0)
    assert all(len(p["states"]) > 1 for p in steps)  # step states before the final one: boundaries are tested
    for a, b in zip(steps, at_once, strict=True):
        assert (a["q"], a["correct"]) == (b["q"], b["correct"])
        torch.testing.assert_close(a["states"], b["states"], rtol=1e-4, atol=1e-5)
