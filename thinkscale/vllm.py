"""The import path a vLLM deployment names: the budget-forcing logits processor and the reasoning parser.

    vllm serve MODEL --logits-processors thinkscale.vllm:BudgetForcingProcessor \
        --reasoning-parser-plugin thinkscale.vllm --reasoning-parser thinkscale

    LLM(MODEL, logits_processors=["thinkscale.vllm:BudgetForcingProcessor"])

`thinkscale serve` passes all three itself, with the recipe's format in the environment. These two names
are stable; the modules behind them (`thinkscale.inference.vllm.processor`, `.vllm_reasoning`) may move.
The processor implements vLLM 0.32's V1 and Model Runner V2 interfaces; requests carry their budgets in
`SamplingParams.extra_args` (`thinkscale.inference.forcing.request.budget_request`).
"""

from thinkscale.inference.forcing.request import PROCESSOR, REASONING_PARSER, REASONING_PLUGIN
from thinkscale.inference.vllm.processor import BudgetForcingProcessor
from thinkscale.inference.vllm.reasoning import ThinkAnswerParser  # registers the parser `thinkscale`

__all__ = ["BudgetForcingProcessor", "ThinkAnswerParser", "PROCESSOR", "REASONING_PLUGIN", "REASONING_PARSER"]
