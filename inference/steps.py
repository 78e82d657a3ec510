"""The step rule: where an expansion's thinking stops, decided token by token on ids.

    reason = thinking_cut(token, len(node.thinking_ids), step_ids, spec, delims.think_stop_ids, tree.text)

One function for every decoder that expands paths: the transformers tree decoder applies it to each
token it samples, the vLLM tree to the tokens a generate call returned (cutting there, whatever vLLM's
own stop string did), and `step_ends` to a finished path after the fact. So the same tokens always end
the same steps, on both backends.

A sampled thinking token
- that is a stop token (the think-end delimiter's first token, end of turn, EOS) is not thinking: the
  caller ends thinking (or, with `until="think_end"`, stops there) — STOP;
- that brings thinking to `max_thinking_tokens` forces the delimiter after it — CAP (checked before the
  step rule: that token ends thinking, not a step);
- with `until="step"`: that makes the step's text, leading delimiters stripped, hold the delimiter
  (a step that begins with a blank line is not empty; a delimiter inside a multi-character token counts
  at that token) — STEP; or that makes the step `max_step_tokens` long — LONG.
"""

from __future__ import annotations

from collections.abc import Callable

STOP, CAP, STEP, LONG = "stop", "cap", "step", "max_step_tokens"


def thinking_cut(token: int, thinking_len: int, step_ids: list[int], spec, stop_ids, text: Callable) -> str:
    """What sampling `token` while thinking does: STOP, CAP, STEP, LONG, or "" (thinking goes on).

    `thinking_len` and `step_ids` are counted before the token; `spec` is an `inference.tree.Expansion`;
    `text` decodes ids (special tokens kept)."""
    if token in stop_ids:
        return STOP
    if thinking_len + 1 >= spec.max_thinking_tokens:
        return CAP
    if spec.until == "step":
        step = [*step_ids, token]
        if spec.step_delimiter in text(step).lstrip(spec.step_delimiter):
            return STEP
        if len(step) >= spec.max_step_tokens:
            return LONG
    return ""
