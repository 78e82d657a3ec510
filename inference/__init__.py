"""Inference: the budget rules every engine shares (`forcing/`), the transformers engine (`hf/`), everything
inside or beside vLLM (`vllm/`), models by name (`models/`), and the entry points on top: `api` (the
two-line `thinkscale.Engine`), `backend` and `engine_args` (which engine, with which budgets), `chat`,
`generate`. One line per module: docs/file-tree.md.
"""
