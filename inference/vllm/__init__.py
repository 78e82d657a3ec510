"""Everything that runs inside or beside vLLM (installed by `make setup-vllm`): the engine (`engine`,
`tree`), how it is started (`launch`, `process`, `dp`), the logits processor (`processor`), the
reasoning parser (`reasoning`), the OpenAI-compatible server (`serve`, `segments`) and what
`make setup-vllm` installs (`setup`). Only these modules import vLLM."""
