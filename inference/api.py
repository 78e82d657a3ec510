"""Ask a model with budget forcing in two lines: `thinkscale.Engine`.

    import thinkscale as ts
    engine = ts.Engine("smollm2-135m")       # a name, a folder, a Hub id, a GGUF file, or recipe="smollm2-135m/chat"
    result = engine.generate("What is 7 + 5?", min_thinking_tokens=24, num_ignore=1)
    print(result.answer, result.thinking_tokens, result.num_forced)

`generate` takes one question (a `BudgetResult` back) or a list (a list back, decoded together), and
the budget settings under the names a `BudgetRequest` has (min_thinking_tokens, max_thinking_tokens,
num_ignore, ignore_strings, max_answer_tokens, thinking_temperature, answer_temperature, top_p, seed).
The question is rendered with the model's chat template and the format (s1's think / answer turn by
default; a chat recipe's delimiters with `recipe=`). `stream` yields what the HF engine decodes as it
decodes it (`TokenEvent`s, then the result). Underneath are `build_engine`, `render_prompt` and
`BudgetRequest`, which stay the full API (docs/api.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.common.config import load_recipe
from thinkscale.common.errors import ConfigError
from thinkscale.inference.backend import BackendArgs
from thinkscale.inference.engine_args import build_engine
from thinkscale.inference.forcing.budget import BudgetRequest, BudgetResult
from thinkscale.inference.models.load import ModelArgs


def _pick(cls, values: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in values.items() if k in names}


class Engine:
    """A model loaded once, asked any number of times; see the module docstring."""

    def __init__(self, model: str | None = None, *, recipe: str | None = None, backend: str = "hf",
                 dtype: str | None = None, batch_size: int = 32, **settings: Any):  # fmt: skip
        """`model`: the model (default: the recipe's, else the embedded default). `recipe`: a recipe file
        or shipped name whose model and format keys are used. `settings`: further `FormatArgs` or
        `BackendArgs` fields (think_end=..., kv_cache_gib=...), over the recipe's."""
        values = load_recipe(recipe) if recipe else {}
        values.update(settings)
        known = {f.name for cls in (ModelArgs, FormatArgs, BackendArgs) for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(
                f"Engine: unknown setting(s) {', '.join(unknown)} (FormatArgs or BackendArgs fields)"
            )
        if model is not None:
            values["model"] = model
        if dtype is not None:
            values["dtype"] = dtype
        values["backend"] = backend
        self.format = FormatArgs(**_pick(FormatArgs, values))
        self.model_args = ModelArgs(**_pick(ModelArgs, values))
        self.backend = BackendArgs(**_pick(BackendArgs, values))
        self._engine, self.tokenizer = build_engine(self.model_args, self.format, self.backend, batch_size)

    def request(self, question: str, **budget: Any) -> BudgetRequest:
        """The `BudgetRequest` that `generate` sends for one question."""
        try:
            return BudgetRequest(render_prompt(self.tokenizer, self.format, question), **budget)
        except TypeError as e:  # an unknown keyword
            raise ConfigError(
                f"Engine.generate: {e} (the budget settings are BudgetRequest's fields)"
            ) from None

    def generate(self, question: str | list[str], **budget: Any) -> BudgetResult | list[BudgetResult]:
        """Budget-forced answers: one result for a question, a list for a list (decoded together)."""
        questions = [question] if isinstance(question, str) else list(question)
        results = self._engine.generate([self.request(q, **budget) for q in questions])
        return results[0] if isinstance(question, str) else results

    def stream(self, question: str, **budget: Any) -> Iterator:
        """The HF engine's token events as they are decoded, then the `BudgetResult`. On vLLM the events
        come after the request has finished decoding (docs/api.md)."""
        return self._engine.stream(self.request(question, **budget))

    def close(self) -> None:
        """Free the engine (vLLM's processes, the model's memory)."""
        self._engine.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
