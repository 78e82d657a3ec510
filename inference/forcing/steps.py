"""The step rule: where an expansion's thinking stops, decided token by token on ids.

    reason = thinking_cut(token, len(node.thinking_ids), step_ids, spec, delims.think_stop_ids, tree.text)

One function for every decoder that expands paths: the transformers tree decoder applies it to each
token it samples, the vLLM tree to the tokens a generate call returned (cutting there, whatever vLLM's
own stop string did), and `step_ends` to a finished path after the fact. So the same tokens always end
the same steps, on both backends.

A sampled thinking token
- that is a stop token (the think-end delimiter's first token, end of turn, EOS) is not thinking: the
  caller ends thinking (or, with `until="think_end"`, stops there) — STOP;
- with a confidence stop (`stop_below`, DeepConf online), that completes a window of `conf_window`
  confidences whose mean is below it ends the path, unanswered — LOW;
- that brings thinking to `max_thinking_tokens` forces the delimiter after it — CAP (checked before the
  step rule: that token ends thinking, not a step);
- with `until="step"`: that makes the step's text, leading delimiters stripped, hold the delimiter
  (a step that begins with a blank line is not empty; a delimiter inside a multi-character token counts
  at that token) — STEP; or that makes the step `max_step_tokens` long — LONG.
"""

from __future__ import annotations

import math
from collections.abc import Callable

STOP, LOW, CAP, STEP, LONG = "stop", "low_confidence", "cap", "step", "max_step_tokens"


def thinking_cut(token: int, thinking_len: int, step_ids: list[int], spec, stop_ids, text: Callable,
                 confs: list[float] | None = None) -> str:  # fmt: skip
    """What sampling `token` while thinking does: STOP, LOW, CAP, STEP, LONG, or "" (thinking goes on).

    `thinking_len` and `step_ids` are counted before the token; `spec` is an `inference.hf.tree.Expansion`;
    `text` decodes ids (special tokens kept); `confs`: the path's token confidences, this token's last
    (read when `spec.stop_below` is set)."""
    if token in stop_ids:
        return STOP
    if spec.stop_below is not None and confs and window_below(confs, spec.conf_window, spec.stop_below):
        return LOW
    if thinking_len + 1 >= spec.max_thinking_tokens:
        return CAP
    if spec.until == "step":
        step = [*step_ids, token]
        if spec.step_delimiter in text(step).lstrip(spec.step_delimiter):
            return STEP
        if len(step) >= spec.max_step_tokens:
            return LONG
    return ""


def token_confidence(logits, k: int) -> float:
    """DeepConf's token confidence: minus the mean of the top-k log-probabilities of the distribution
    the token was sampled from (the model's own, before temperature and top-p; vLLM's raw logprobs).
    High when the distribution is peaked. `logits`: one row, any float tensor."""
    import torch

    logprobs = torch.log_softmax(logits.double(), dim=-1)
    return -float(logprobs.topk(k).values.mean())


def confidence_from_logprobs(entries: dict, k: int) -> float:
    """The same from one position of vLLM's `CompletionOutput.logprobs` (top-k entries, ranks 1..k,
    plus the sampled token when it ranks lower: that one is left out)."""
    top = [e.logprob for e in entries.values() if e.rank is not None and e.rank <= k]
    return -math.fsum(top) / len(top)


# Confidences within this of a threshold count as at it. The same token's confidence from two decoders
# (transformers, vLLM) or from two batch rows of one differs by float noise (at most 1e-4 between the
# backends, tested); greedy duplicates of a trace set a threshold exactly at their own confidence, and a
# strict comparison would put each copy on a side of it by that noise alone.
CONF_TIE = 1e-4


def at_least(conf: float, threshold: float) -> bool:
    """Whether a confidence reaches a threshold (within `CONF_TIE`)."""
    return conf >= threshold - CONF_TIE


def window_below(confs: list[float], window: int, threshold: float) -> bool:
    """Whether the window of the last `window` confidences is full and its mean is below `threshold`
    (by more than `CONF_TIE`)."""
    return len(confs) >= window and not at_least(math.fsum(confs[-window:]) / window, threshold)
