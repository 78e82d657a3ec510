"""thinkscale: test-time scaling for reasoning language models (s1's budget forcing and the rest).

The stable library API is what this module exports (docs/api.md):

    import thinkscale as ts
    result = ts.Engine("smollm2-135m").generate("What is 7 + 5?", min_thinking_tokens=24, num_ignore=1)

or, every piece in reach:

    engine, tokenizer = ts.build_engine(ts.ModelArgs(), ts.FormatArgs(), ts.BackendArgs())
    prompt = ts.render_prompt(tokenizer, ts.FormatArgs(), "What is 7 + 5?")
    [result] = engine.generate([ts.BudgetRequest(prompt, max_thinking_tokens=128, num_ignore=1)])
    ts.grade(result.answer, "12").correct

and for a vLLM deployment `thinkscale.vllm` (the logits processor and the reasoning parser). Stages
run through the `thinkscale` command (`thinkscale --help`). Names are imported on first use, so
`import thinkscale` and `thinkscale --help` do not wait for torch.
"""

from __future__ import annotations

import importlib

# The stage folders (common/, data/, sft/, inference/, eval/, ibpo/, grading/, recipes/) sit at the top
# of the repository; this folder holds a symbolic link to each, so that `thinkscale.<stage>` is a real
# path to Python, setuptools and static tools alike (an install copies the files in).
from thinkscale.common.version import __version__

# name -> module that defines it (relative to this package)
_API = {
    # budget forcing in two lines: a model loaded once, asked any number of times
    "Engine": "inference.api",
    # budget forcing: one request, its result, the engines that run it
    "BudgetRequest": "inference.forcing.budget",
    "BudgetResult": "inference.forcing.budget",
    "BudgetArgs": "inference.engine_args",
    "build_engine": "inference.engine_args",
    "BackendArgs": "inference.backend",
    "ModelArgs": "inference.models.load",
    "FormatArgs": "common.chat_format",
    "render_prompt": "common.chat_format",
    # grading
    "grade": "grading.grade",
    "Graded": "grading.grade",
    # s1's metrics
    "Point": "eval.metrics",
    "S1Metrics": "eval.metrics",
    "control": "eval.metrics",
    "scaling": "eval.metrics",
    "s1_metrics": "eval.metrics",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'thinkscale' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
