"""vLLM reasoning parser `thinkscale`: splits the recipe's think / answer turn for the OpenAI server.

    python -m vllm.entrypoints.openai.api_server ... --reasoning-parser-plugin thinkscale.vllm \
        --reasoning-parser thinkscale          # `thinkscale serve` passes both

On `/v1/chat/completions` the thinking comes back in `message.reasoning` (streamed as
`delta.reasoning`), the answer in `message.content`, and `usage.completion_tokens_details.
reasoning_tokens` counts the tokens before the think-end delimiter: the offline engines'
`thinking_tokens`, plus one when a cut at the maximum put a newline before the delimiter (the
engines count that newline with the delimiter; a parser sees token ids only and cannot tell it from
a newline the model wrote). The delimiters are the recipe's (`THINKSCALE_FORMAT`,
as for the logits processor); they may be several tokens long and contain special tokens, so the
parser turns `skip_special_tokens` off for the requests it parses (otherwise `<|im_start|>` would
vanish from the text and the delimiter could not be found).
"""

from __future__ import annotations

from collections.abc import Sequence

from vllm.entrypoints.generate.base.protocol import DeltaMessage
from vllm.reasoning import ReasoningParser, ReasoningParserManager

from thinkscale.inference.forcing.batch import format_from_env


def _find(ids: Sequence[int], sub: list[int]) -> int:
    """Index of the first occurrence of `sub` in `ids`, or -1."""
    n = len(sub)
    for i in range(len(ids) - n + 1):
        if list(ids[i : i + n]) == sub:
            return i
    return -1


@ReasoningParserManager.register_module("thinkscale")
class ThinkAnswerParser(ReasoningParser):
    """Thinking = the text before the recipe's think-end delimiter; the answer = the text after it."""

    def __init__(self, tokenizer, *args, **kwargs):
        super().__init__(tokenizer, *args, **kwargs)
        fmt = format_from_env()
        self.think_start, self.think_end, self.end_of_turn = fmt.think_start, fmt.think_end, fmt.end_of_turn
        self.think_end_ids = tokenizer.encode(fmt.think_end, add_special_tokens=False)

    @property
    def reasoning_start_str(self) -> str:
        # With both strings vLLM's own reasoning config initialises, so a request that sends only vLLM's
        # `thinking_token_budget` gets vLLM's native cap (the budget-forcing processor refuses that
        # field beside its own budgets, which do min / "Wait" / the final-answer prefix).
        return self.think_start

    @property
    def reasoning_end_str(self) -> str:
        return self.think_end

    def adjust_request(self, request):
        request.skip_special_tokens = False  # keep the delimiter's special tokens in the text
        return request

    def is_reasoning_end(self, input_ids: Sequence[int]) -> bool:
        return _find(input_ids, self.think_end_ids) >= 0

    def extract_content_ids(self, input_ids: list[int]) -> list[int]:
        at = _find(input_ids, self.think_end_ids)
        return [] if at < 0 else list(input_ids[at + len(self.think_end_ids) :])

    def count_reasoning_tokens(self, token_ids: Sequence[int]) -> int:
        at = _find(token_ids, self.think_end_ids)
        return len(token_ids) if at < 0 else at

    def _clean(self, text: str) -> str:
        return text.split(self.end_of_turn)[0]

    def extract_reasoning(self, model_output: str, request) -> tuple[str | None, str | None]:
        head, sep, tail = model_output.partition(self.think_end)
        if not sep:
            return self._clean(head), None
        return head.rstrip("\n"), self._clean(tail)

    def _answer_so_far(self, text: str) -> str:
        head, sep, tail = text.partition(self.think_end)
        return self._clean(tail) if sep else ""

    def _safe_reasoning_end(self, text: str) -> int:
        """How much of `text` is surely thinking: up to the delimiter, or short of a tail that may start it."""
        at = text.find(self.think_end)
        if at >= 0:
            return at
        for k in range(min(len(self.think_end) - 1, len(text)), 0, -1):
            if self.think_end.startswith(text[-k:]):
                return len(text) - k
        return len(text)

    def extract_reasoning_streaming(
        self, previous_text: str, current_text: str, delta_text: str,
        previous_token_ids: Sequence[int], current_token_ids: Sequence[int], delta_token_ids: Sequence[int],
    ) -> DeltaMessage | None:  # fmt: skip
        reasoning = current_text[
            self._safe_reasoning_end(previous_text) : self._safe_reasoning_end(current_text)
        ]
        content = self._answer_so_far(current_text)[len(self._answer_so_far(previous_text)) :] or None
        if not reasoning and content is None:
            return None
        return DeltaMessage(reasoning=reasoning or None, content=content)
