"""`thinkscale.Engine`: a question in, a budget-forced result out, in two lines (docs/api.md)."""

from __future__ import annotations

import pytest

import thinkscale as ts
from thinkscale.common.errors import ConfigError
from thinkscale.inference.hf.engine import TokenEvent


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return ts.Engine(str(tiny_model_dir))


def test_one_question_and_a_list(engine):
    one = engine.generate("What is 7 + 5?", min_thinking_tokens=6, max_thinking_tokens=6, max_answer_tokens=3)
    assert isinstance(one, ts.BudgetResult) and one.thinking_tokens == 6 and one.answer_tokens <= 3
    both = engine.generate(["What is 7 + 5?", "What is 2 + 2?"], max_thinking_tokens=4, max_answer_tokens=2)
    assert [r.thinking_tokens for r in both] == [4, 4]
    # the same request through the full API gives the same result
    [full] = engine._engine.generate([engine.request("What is 7 + 5?", min_thinking_tokens=6,
                                                     max_thinking_tokens=6, max_answer_tokens=3)])  # fmt: skip
    assert full.thinking == one.thinking and full.answer == one.answer


def test_stream_yields_events_then_the_result(engine):
    items = list(engine.stream("What is 7 + 5?", max_thinking_tokens=5, max_answer_tokens=2))
    assert all(isinstance(i, TokenEvent) for i in items[:-1]) and isinstance(items[-1], ts.BudgetResult)
    assert {i.kind for i in items[:-1]} <= {
        "thinking",
        "ignore_string",
        "delimiter",
        "final_answer_prefix",
        "answer",
    }


def test_bad_settings_name_themselves(engine, tiny_model_dir):
    with pytest.raises(ConfigError, match="max_thinking"):
        engine.generate("What is 7 + 5?", max_thinking=5)
    with pytest.raises(ConfigError, match="think_finish"):
        ts.Engine(str(tiny_model_dir), think_finish="</think>")
    with pytest.raises(ConfigError, match="--max-thinking-tokens"):
        engine.generate("What is 7 + 5?", max_thinking_tokens=-1)


def test_a_recipe_gives_the_format(tiny_model_dir):
    engine = ts.Engine(str(tiny_model_dir), recipe="smollm2-135m/chat", final_answer_prefix="So:")
    assert engine.format.final_answer_prefix == "So:" and engine.format.think_end == "<|im_start|>answer\n"
    assert engine.model_args.model == str(tiny_model_dir)
