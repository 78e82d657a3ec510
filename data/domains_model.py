"""The model-based domain classifier: a chat model picks an MSC area for each question, as s1 asked.

    labeler = model_labeler("Qwen/Qwen2.5-7B-Instruct", fmt, model_args)
    replies = labeler([question, ...])          # used by data.domains.label_domains

Each question goes to the model in its own chat format with s1's instruction, the question and the
MSC rubric (`data.msc.labeller_messages`); the model explains and ends with the two-digit code,
which `data.domains.parse_model_label` reads. The reply is the response the model wrote: it never
writes the think delimiter, so it arrives as "thinking" (up to REPLY_TOKENS tokens); what the
decoder appends after the model's end of turn is not part of it.
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm import tqdm

from thinkscale.common.chat_format import FormatArgs
from thinkscale.data.difficulty import graded_text
from thinkscale.data.msc import labeller_messages
from thinkscale.inference.backend import BackendArgs
from thinkscale.inference.engine_args import build_engine
from thinkscale.inference.forcing.budget import BudgetRequest
from thinkscale.inference.models.load import ModelArgs

REPLY_TOKENS = 1024  # an explanation, then the code


def model_labeler(
    model: str, fmt: FormatArgs, base: ModelArgs, batch_size: int = 32, backend: BackendArgs | None = None
) -> Callable[[list[str]], list[str]]:
    margs = base.for_model(model)
    engine, tokenizer = build_engine(margs, fmt, backend, batch_size)

    def label(questions: list[str]) -> list[str]:
        bar = tqdm(total=len(questions), desc=f"domains {model}", unit="q")
        prompts = [tokenizer.apply_chat_template(labeller_messages(q), tokenize=False, add_generation_prompt=True)
                   for q in questions]  # fmt: skip
        results = engine.generate(
            [BudgetRequest(p, max_thinking_tokens=REPLY_TOKENS, max_answer_tokens=1) for p in prompts],
            on_result=lambda i, r: bar.update(1),
        )
        bar.close()
        return [graded_text(r, "native") for r in results]  # the response the model wrote

    return label
