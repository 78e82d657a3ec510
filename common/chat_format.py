"""The s1 chat format: the one place that renders and parses think/answer turns.

s1's assistant turn (Qwen/ChatML template) is

    <|im_start|>think\n{reasoning}\n<|im_start|>answer\nAnswer: {attempt}<|im_end|>

The delimiters come from the recipe (`FormatArgs`), never from a model's name; each may tokenize to
several tokens. The user and system turns come from the tokenizer's own chat template, so the same
code serves any chat model: training renders (prompt, completion) pairs with `render_example`,
inference builds prompts that end in the think-start delimiter with `render_prompt`, and eval splits
generations back into thinking and answer with `parse_completion`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from thinkscale.common.errors import ConfigError


@dataclass
class FormatArgs:
    """Think/answer delimiters and prompt settings (recipe keys of the same names)."""

    _argument_group_name = "format: the think / answer turn"  # its flags' heading in --help

    think_start: str = field(
        default="<|im_start|>think\n",
        metadata={"help": "Text that opens the thinking part of the assistant turn."},
    )
    think_end: str = field(
        default="<|im_start|>answer\n",
        metadata={
            "help": "Delimiter that ends thinking and opens the answer (its first token is the stop signal)."
        },
    )
    end_of_turn: str = field(
        default="<|im_end|>", metadata={"help": "End-of-turn token text of the chat template."}
    )
    answer_prefix: str = field(
        default="Answer: ", metadata={"help": "Text that opens the answer in training data."}
    )
    final_answer_prefix: str = field(
        default="Final Answer:",
        metadata={"help": "Text appended after the think-end delimiter when thinking is cut off."},
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "System message; unset uses the chat template's own default."}
    )
    chat_template: str | None = field(
        default=None,
        metadata={
            "help": "A Jinja chat template (or a .jinja file) used instead of the tokenizer's own: what a "
            "base model without one needs."
        },
    )

    def __post_init__(self) -> None:
        for name in ("think_start", "think_end", "end_of_turn"):
            if not getattr(self, name):
                raise ConfigError(f"{name} must be a non-empty string (set it in the recipe)")
        if self.think_start == self.think_end:
            raise ConfigError("think_start and think_end must differ")


def _messages(fmt: FormatArgs, question: str, assistant: str | None = None) -> list[dict]:
    msgs = [] if fmt.system_prompt is None else [{"role": "system", "content": fmt.system_prompt}]
    msgs.append({"role": "user", "content": question})
    if assistant is not None:
        msgs.append({"role": "assistant", "content": assistant})
    return msgs


def template_of(tokenizer, fmt: FormatArgs) -> str:
    """The chat template in use: the recipe's `chat_template` (text or a .jinja file), else the tokenizer's."""
    own = fmt.chat_template
    if own:
        path = Path(own).expanduser()
        if own.endswith((".jinja", ".j2")) or (len(own) < 4096 and "{" not in own and path.is_file()):
            if not path.is_file():
                raise ConfigError(f"chat_template {own}: no such file")
            return path.read_text(encoding="utf-8")
        return own
    base = getattr(tokenizer, "chat_template", None)
    if not base:
        source = getattr(tokenizer, "name_or_path", "?")
        info = Path(str(source)) / "thinkscale_model.json"  # a converted GGUF names the file it came from
        if info.is_file():
            source = json.loads(info.read_text()).get("source", source)
        raise ConfigError(
            f"the model {source} has no chat template (a base model?): set chat_template in the recipe "
            "(or --chat-template), a Jinja template or a .jinja file, e.g. a ChatML one"
        )
    return base


def _apply_template(
    tokenizer, msgs: list[dict], add_generation_prompt: bool, fmt: FormatArgs | None = None
) -> str:
    template = template_of(tokenizer, fmt or FormatArgs())
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt,
                                         chat_template=template)  # fmt: skip


def render_assistant(fmt: FormatArgs, reasoning: str, answer: str) -> str:
    """The assistant turn's content: think block, delimiter, answer (no end-of-turn).

    The answer gets `answer_prefix` ("Answer: ") unless the marker ("Answer:") occurs anywhere in it,
    then the whole is stripped — s1's rule (`data/tokenization.py`: `"Answer: " + answer if "Answer:"
    not in answer`), so an attempt ending "... Final Answer: 42" gets no second marker."""
    marker = fmt.answer_prefix.strip()
    text = answer if marker and marker in answer else fmt.answer_prefix + answer
    return f"{fmt.think_start}{reasoning.strip()}\n{fmt.think_end}{text.strip()}"


def render_prompt(tokenizer, fmt: FormatArgs, question: str) -> str:
    """Generation prompt: the chat template up to the assistant turn, then the think-start delimiter."""
    if not question or not question.strip():
        raise ConfigError("the prompt is empty")
    return _apply_template(tokenizer, _messages(fmt, question), True, fmt) + fmt.think_start


def render_example(tokenizer, fmt: FormatArgs, question: str, reasoning: str, answer: str) -> tuple[str, str]:
    """A training example as (prompt, completion); the loss belongs on the completion only.

    The completion is what the template writes for the assistant turn, end-of-turn included, found
    as the difference between the full conversation and the generation prompt so it is right for
    any template that renders the earlier turns the same way in both.
    """
    prompt = _apply_template(tokenizer, _messages(fmt, question), True, fmt)
    full = _apply_template(
        tokenizer, _messages(fmt, question, render_assistant(fmt, reasoning, answer)), False, fmt
    )
    if not full.startswith(prompt):
        raise ConfigError(
            "the chat template renders the conversation differently with and without the assistant turn; "
            "cannot separate the prompt from the completion"
        )
    completion = full[len(prompt) :]
    if fmt.end_of_turn not in completion:
        raise ConfigError(f"end_of_turn {fmt.end_of_turn!r} does not appear in the template's assistant turn")
    return prompt, completion


@dataclass
class ParsedCompletion:
    """A generated assistant turn split into its parts."""

    thinking: str
    answer: str
    has_think_end: bool  # False: the model never closed its thinking (format not followed)


def parse_completion(fmt: FormatArgs, text: str) -> ParsedCompletion:
    """Split text generated after `render_prompt` into thinking and answer.

    Tolerates a repeated think-start at the front and drops the end-of-turn and anything after it.
    """
    if text.startswith(fmt.think_start):
        text = text[len(fmt.think_start) :]
    head, sep, tail = text.partition(fmt.think_end)
    if not sep:
        return ParsedCompletion(
            thinking=head.split(fmt.end_of_turn)[0].rstrip(), answer="", has_think_end=False
        )
    answer = tail.split(fmt.end_of_turn)[0].strip()
    return ParsedCompletion(thinking=head.rstrip(), answer=answer, has_think_end=True)


def delimiter_ids(tokenizer, text: str, name: str) -> list[int]:
    """Token ids of a delimiter (no special tokens added); an empty result names the field."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if not ids:
        raise ConfigError(f"{name} {text!r} tokenizes to nothing with this tokenizer")
    return ids
