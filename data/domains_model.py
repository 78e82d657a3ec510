"""The optional model-based domain classifier: a chat model picks an MSC area for each question.

    labeler = model_labeler("Qwen/Qwen2.5-7B-Instruct", fmt, model_args)
    replies = labeler([prompt, ...])          # used by data.domains.label_domains

The model answers with no thinking (budget 0: the decoder forces the answer delimiter at once) and a
short answer budget; `data.domains.parse_model_label` reads the label from the reply.
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm import tqdm

from common.chat_format import FormatArgs, render_prompt
from inference.backend import BackendArgs
from inference.engine_args import BudgetArgs, build_engine
from inference.models import ModelArgs


def model_labeler(
    model: str, fmt: FormatArgs, base: ModelArgs, batch_size: int = 32, backend: BackendArgs | None = None
) -> Callable[[list[str]], list[str]]:
    margs = base.for_model(model)
    budget = BudgetArgs(max_thinking_tokens=0, max_answer_tokens=24, batch_size=batch_size)
    engine, tokenizer = build_engine(margs, fmt, backend, batch_size)

    def label(prompts: list[str]) -> list[str]:
        bar = tqdm(total=len(prompts), desc=f"domains {model}", unit="q")
        results = engine.generate(
            [budget.request(render_prompt(tokenizer, fmt, p)) for p in prompts],
            on_result=lambda i, r: bar.update(1),
        )
        bar.close()
        return [r.answer for r in results]

    return label
