"""s1's difficulty mode for real models: each model answers in its own chat format, one long
generation, the whole response graded (`--difficulty-mode native`); the CPU probe stays the default."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from thinkscale.common.chat_format import FormatArgs
from thinkscale.data.difficulty import DifficultyArgs, graded_text, solve_with
from thinkscale.grading.grade import grade
from thinkscale.inference.models.load import ModelArgs


def test_native_mode_prompts_in_the_models_own_format_and_grades_the_whole_response(
    tiny_model_dir, tmp_path, monkeypatch
):
    import thinkscale.data.difficulty
    from thinkscale.inference.engine_args import build_engine

    seen = []

    def recording(*a, **k):
        engine, tok = build_engine(*a, **k)
        real = engine.generate

        def generate(requests, **kw):
            seen.extend(requests)
            return real(requests, **kw)

        engine.generate = generate
        return engine, tok

    monkeypatch.setattr(thinkscale.data.difficulty, "build_engine", recording)
    rows = [
        {"id": "a", "question": "What is 1 + 1?", "gold": "2"},
        {"id": "b", "question": "What is 2 + 2?", "gold": "4"},
    ]
    args = DifficultyArgs(
        difficulty_mode="native", difficulty_max_thinking_tokens=12, difficulty_max_answer_tokens=2
    )
    solve_with(str(tiny_model_dir), rows, args, FormatArgs(), ModelArgs(), tmp_path / "cache.jsonl")
    assert len(seen) == 2
    for req in seen:  # the model's own template: the assistant header, no think delimiter
        assert req.prompt.endswith("<|im_start|>assistant\n") and "<|im_start|>think" not in req.prompt
        assert req.max_thinking_tokens == 12
    think = DifficultyArgs()
    assert think.difficulty_mode == "think" and think.difficulty_max_thinking_tokens == 32  # the CPU probe


def test_native_grading_reads_the_response_and_think_mode_reads_the_answer():
    whole = SimpleNamespace(thinking="2 + 2 is \\boxed{4}", answer="", think_end_reason="not_reached")
    assert graded_text(whole, "native") == "2 + 2 is \\boxed{4}"
    # Qwen ends its turn; the decoder appends the delimiter, "Final Answer:" and one sampled token
    ended = SimpleNamespace(
        thinking="The answer is 12.", answer="Final Answer: The", think_end_reason="end_of_turn"
    )
    assert graded_text(ended, "native") == "The answer is 12."
    assert grade(graded_text(ended, "native"), "12").correct and not grade(ended.answer, "12").correct
    wrote = SimpleNamespace(thinking="so far 3", answer="Answer: 4", think_end_reason="delimiter")
    assert graded_text(wrote, "native").endswith("Answer: 4") and graded_text(wrote, "think") == "Answer: 4"


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="--difficulty-mode must be think or native"):
        DifficultyArgs(difficulty_mode="chat")
