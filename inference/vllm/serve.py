"""An OpenAI-compatible budget-forcing server: vLLM's own server, started with the recipe's model and delimiters.

    make serve                                                   # the embedded default on 127.0.0.1:8000
    thinkscale serve --config recipes/qwen2.5-32b/serve.yaml --tensor-parallel-size 8
    thinkscale serve --model outputs/sft/smollm2-135m-s1/final --port 8001 -- --api-key KEY
    thinkscale serve --print-command                    # the command it would run, and stop

This runs vLLM's OpenAI server (`vllm.entrypoints.openai.api_server`, the same app as `vllm serve`)
with:

- the budget-forcing logits processor (`inference.vllm.processor`): clients pass budgets per request
  in `vllm_xargs` (the `openai` client: `extra_body={"vllm_xargs": {...}}`), on `/v1/chat/completions`
  and `/v1/completions`; a bad budget is an HTTP 400 naming the field;
- the `thinkscale` reasoning parser (`inference.vllm.reasoning`): the thinking comes back in
  `message.reasoning`, the answer in `message.content`, the thinking token count in
  `usage.completion_tokens_details.reasoning_tokens`;
- a chat template that is the model's own followed by the recipe's think-start delimiter (and the
  recipe's system prompt when the client sends none), so a chat request is rendered exactly as
  `render_prompt` renders it for the offline engines;
- `--generation-config vllm` (the model's generation_config.json sampling defaults, e.g. a top_k or
  a repetition penalty, would change s1's distribution; the processor refuses them), async scheduling
  off (the processor follows each request's committed tokens), prefix caching on, and the backend
  flags of `inference.backend` (KV cache size and CPU thread binding on a CPU).

Everything after `--` goes to vLLM's server as it is. The recipe's format reaches the processor and
the parser through the environment (`THINKSCALE_FORMAT`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch

from thinkscale.common.chat_format import FormatArgs, template_of
from thinkscale.common.config import parse_config, run_cli
from thinkscale.common.errors import ConfigError
from thinkscale.inference.backend import BackendArgs, require_vllm
from thinkscale.inference.forcing.batch import FORMAT_ENV, PROCESSOR
from thinkscale.inference.forcing.request import (
    REASONING_PARSER,
    REASONING_PLUGIN,
    RECORDS_ENV,
    SERVER_SEGMENTS_ENV,
)
from thinkscale.inference.models.load import ModelArgs, load_tokenizer, pick_dtype, resolve_model
from thinkscale.inference.vllm.launch import llm_kwargs, model_runner
from thinkscale.inference.vllm.process import cpu_environment

SEGMENTS_MIDDLEWARE = "thinkscale.inference.vllm.segments.segments_middleware"  # vllm_xargs.segments
SERVER_MODULE = "vllm.entrypoints.openai.api_server"


@dataclass
class ServeArgs:
    """Where the server listens (recipe keys of the same names)."""

    _argument_group_name = "server"  # its flags' heading in --help

    host: str = field(
        default="127.0.0.1", metadata={"help": "Address to listen on (0.0.0.0: every interface)."}
    )
    port: int = field(default=8000, metadata={"help": "Port to listen on."})
    served_model_name: str | None = field(
        default=None, metadata={"help": "The model name clients ask for (default: the model path or id)."}
    )
    print_command: bool = field(default=False, metadata={"help": "Print the vLLM command and exit."})

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"--port must be in 1..65535, got {self.port}")


def chat_template(tokenizer, fmt: FormatArgs) -> str:
    """The model's chat template, then the think-start delimiter after the generation prompt; the
    recipe's system prompt goes first when the conversation has none (as `render_prompt` does)."""
    base = template_of(tokenizer, fmt)  # the recipe's chat_template, else the tokenizer's (errors say which)
    head = ""
    if fmt.system_prompt is not None:
        head = (
            "{%- if not messages or messages[0]['role'] != 'system' -%}"
            f"{{%- set messages = [{{'role': 'system', 'content': {json.dumps(fmt.system_prompt)}}}] + messages -%}}"
            "{%- endif -%}"
        )
    tail = f"{{%- if add_generation_prompt -%}}{{{{ {json.dumps(fmt.think_start)} }}}}{{%- endif -%}}"
    return head + base + tail


def _flags(kwargs: dict) -> list[str]:
    """vllm.LLM keyword arguments as the server's command-line flags."""
    argv: list[str] = []
    for key, value in kwargs.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, list):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


def server_command(source: str, template_path: str, serve: ServeArgs, backend: BackendArgs, dtype: str,
                   on_cuda: bool, extra: Sequence[str] = ()) -> list[str]:  # fmt: skip
    """The full vLLM server command line."""
    kwargs = llm_kwargs(backend, dtype, on_cuda, logits_processors=[PROCESSOR])
    argv = [
        sys.executable,
        "-m",
        SERVER_MODULE,
        "--model",
        source,
        "--host",
        serve.host,
        "--port",
        str(serve.port),
    ]
    argv += _flags(kwargs)
    argv += ["--chat-template", template_path, "--generation-config", "vllm",
             "--reasoning-parser-plugin", REASONING_PLUGIN, "--reasoning-parser", REASONING_PARSER,
             "--middleware", SEGMENTS_MIDDLEWARE]  # fmt: skip
    if serve.served_model_name:
        argv += ["--served-model-name", serve.served_model_name]
    return argv + list(extra)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    model_args, fmt, backend, serve = parse_config(
        [ModelArgs, FormatArgs, BackendArgs, ServeArgs], argv, doc=__doc__
    )
    if backend.data_parallel_size > 1:
        extra = ["--data-parallel-size", str(backend.data_parallel_size), *extra]
    if not serve.print_command:
        require_vllm()

    on_cuda = torch.cuda.is_available()
    dtype = str(pick_dtype(model_args.dtype, "cuda" if on_cuda else "cpu")).removeprefix("torch.")
    source = resolve_model(model_args.model, model_args.revision)
    template = chat_template(load_tokenizer(source), fmt)
    # named by its content: the same recipe reuses one file, and vLLM reads it at start-up
    path = os.path.join(
        tempfile.gettempdir(), f"thinkscale-chat-{hashlib.sha256(template.encode()).hexdigest()[:16]}.jinja"
    )
    if not os.path.exists(path):
        with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(path), delete=False) as f:
            f.write(template)
        os.replace(f.name, path)
    command = server_command(source, path, serve, backend, dtype, on_cuda, extra)
    # The processor writes the budget state of requests that ask for segments here; the middleware reads it.
    records = tempfile.mkdtemp(prefix="thinkscale-serve-records-")
    env = {FORMAT_ENV: json.dumps(asdict(fmt)), RECORDS_ENV: records, SERVER_SEGMENTS_ENV: source}
    if not on_cuda:
        env |= {k: v for k, v in cpu_environment().items() if k not in os.environ}

    print(
        f"vLLM model runner: {model_runner(on_cuda)} (the budget-forcing processor implements V1 and V2)",
        file=sys.stderr,
    )
    if serve.print_command:
        print(" ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.join(command))
        return 0
    os.environ.update(env)
    sys.stdout.flush()
    os.execv(sys.executable, command)  # vLLM's server takes over this process: signals reach it directly
    return 0  # not reached


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
