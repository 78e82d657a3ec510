"""The s1 chat format: rendering for training and inference, parsing, multi-token delimiters."""

import pytest

from thinkscale.common.chat_format import (
    FormatArgs,
    delimiter_ids,
    parse_completion,
    render_assistant,
    render_example,
    render_prompt,
)


def test_prompt_ends_in_think_start(tokenizer):
    prompt = render_prompt(tokenizer, FormatArgs(), "What is 7 + 5?")
    assert prompt.endswith(
        "<|im_start|>user\nWhat is 7 + 5?<|im_end|>\n<|im_start|>assistant\n<|im_start|>think\n"
    )


def test_example_is_the_s1_assistant_turn(tokenizer):
    fmt = FormatArgs()
    prompt, completion = render_example(tokenizer, fmt, "What is 7 + 5?", "7 + 5 = 12.\n", "12")
    assert completion.startswith("<|im_start|>think\n7 + 5 = 12.\n<|im_start|>answer\nAnswer: 12<|im_end|>")
    assert prompt + fmt.think_start == render_prompt(tokenizer, fmt, "What is 7 + 5?")


def test_system_prompt_from_recipe(tokenizer):
    fmt = FormatArgs(system_prompt="You are Qwen.")
    prompt = render_prompt(tokenizer, fmt, "hi")
    assert prompt.startswith("<|im_start|>system\nYou are Qwen.<|im_end|>")


def test_parse_round_trip(tokenizer):
    fmt = FormatArgs()
    _, completion = render_example(tokenizer, fmt, "q", "step one\nstep two", "42")
    parsed = parse_completion(fmt, completion)
    assert parsed.has_think_end
    assert parsed.thinking == "step one\nstep two"
    assert parsed.answer == "Answer: 42"


def test_parse_without_think_end():
    parsed = parse_completion(FormatArgs(), "I keep thinking<|im_end|>junk")
    assert not parsed.has_think_end
    assert parsed.thinking == "I keep thinking"
    assert parsed.answer == ""


def test_delimiters_are_multi_token(tokenizer):
    fmt = FormatArgs()
    # <|im_start|> is one special token, then "answer" and "\n": three ids, the first the stop signal.
    assert delimiter_ids(tokenizer, fmt.think_end, "think_end") == [
        tokenizer.convert_tokens_to_ids("<|im_start|>"),
        *tokenizer.encode("answer\n"),
    ]
    assert len(delimiter_ids(tokenizer, fmt.final_answer_prefix, "final_answer_prefix")) > 1


def test_custom_delimiters(tokenizer):
    fmt = FormatArgs(think_start="<think>\n", think_end="</think>\n", answer_prefix="")
    _, completion = render_example(tokenizer, fmt, "q", "r", "a")
    assert completion.startswith("<think>\nr\n</think>\na<|im_end|>")
    assert parse_completion(fmt, completion).answer == "a"


@pytest.mark.parametrize("field", ["think_start", "think_end", "end_of_turn"])
def test_empty_delimiter_is_named(field):
    with pytest.raises(ValueError, match=field):
        FormatArgs(**{field: ""})


def test_empty_prompt(tokenizer):
    with pytest.raises(ValueError, match="empty"):
        render_prompt(tokenizer, FormatArgs(), "   ")


def test_tokenizer_without_template(tokenizer):
    import copy

    bare = copy.copy(tokenizer)
    bare.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        render_prompt(bare, FormatArgs(), "q")


def test_answer_prefix_is_not_doubled():

    fmt = FormatArgs()
    once = render_assistant(fmt, "r", "Answer: 42")
    assert once.endswith(f"{fmt.think_end}Answer: 42") and "Answer: Answer:" not in once
    assert render_assistant(fmt, "r", "42").endswith(f"{fmt.think_end}Answer: 42")


def s1_assistant_text(thinking_trajectory: list[str], attempt: str) -> str:
    """s1's training text for the assistant turn, as its data/tokenization.py builds it."""
    answer = "Answer: " + attempt if "Answer:" not in attempt else attempt
    return ("<|im_start|>think\n" + "\n".join(thinking_trajectory).strip() + "\n<|im_start|>answer\n"
            + answer.strip())  # fmt: skip


@pytest.mark.parametrize(
    "attempt",
    ["42", "  42 \n", "Answer: 42", "The area is 6.\n\nFinal Answer: $\\boxed{6}$", "x = 3, so Answer:3",
     "answer: lower-case marker 7"],
)  # fmt: skip
def test_assistant_text_is_s1s(attempt):
    """Our rendered assistant turn equals s1's tokenization code's on each shape of attempt: the
    "Answer: " prefix only where "Answer:" occurs nowhere in the attempt."""
    fmt = FormatArgs()
    trace = ["Let me think.", "  The sum is 42.  "]
    assert render_assistant(fmt, "\n".join(trace), attempt) == s1_assistant_text(trace, attempt)
