"""Interactive budget-forced chat: thinking streams dimmed, the answer bold, forced tokens marked, then counts.

    make chat                                              # REPL on the embedded default
    thinkscale chat --model outputs/sft/<name>/final --min-thinking-tokens 64 --num-ignore 2
    thinkscale chat --prompt "What is 7 + 5?" --json   # one shot, one JSON object
    thinkscale chat --backend vllm --dtype float32      # the same on vLLM (`make setup-vllm`)

In the REPL, Ctrl-C stops the current answer (the session goes on); Ctrl-D or `exit` quits.
What the rules forced stands apart from model text: a forced "Wait" and the "Final Answer:" forced
after a cut are highlighted on a terminal and bracketed ([Wait]) when the output is not a terminal or
NO_COLOR is set. `--no-think` asks for a plain chat turn without the think/answer format (e.g. an untuned model).
The HF engine streams token by token; the vLLM engine decodes in rounds, so its REPL prints each
answer's thinking and answer when the request is done.
The one-shot contract is stable: `--prompt TEXT --json` prints one object with at least thinking,
answer, thinking_tokens, answer_tokens, num_forced, hit_max, stop_reason and segments.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.common.config import parse_config, run_cli
from thinkscale.common.errors import ConfigError
from thinkscale.inference.backend import BackendArgs
from thinkscale.inference.engine_args import BudgetArgs, build_engine
from thinkscale.inference.forcing.budget import BudgetResult
from thinkscale.inference.hf.engine import HFEngine, TokenEvent
from thinkscale.inference.models.load import ModelArgs, load_model

DIM, BOLD, RESET = "\033[2m", "\033[1m", "\033[0m"
# Forced by the budget rules, shown apart from model text: an ignore string, the final-answer prefix after a cut.
FORCED = {"ignore_string": "\033[0;30;43m", "final_answer_prefix": "\033[0;30;46m"}


@dataclass
class ChatArgs:
    _argument_group_name = "chat"  # its flags' heading in --help
    prompt: str | None = field(default=None, metadata={"help": "Answer this once and exit (no REPL)."})
    json: bool = field(default=False, metadata={"help": "With --prompt: print one JSON object."})
    no_think: bool = field(
        default=False, metadata={"help": "Plain chat turn, without the think/answer format."}
    )


class _Printer:
    """Prints token ids as text as they arrive, in one style per phase (decoding whole runs, so
    multi-token characters never print half-formed). What the budget rules forced is marked: a forced
    ignore string ("Wait") and the final-answer prefix forced after a cut stand out in colour on a
    terminal, and in [brackets] otherwise (a pipe, NO_COLOR)."""

    def __init__(self, tokenizer, color: bool):
        self.tokenizer, self.color = tokenizer, color
        self.kind, self.ids, self.shown = None, [], ""
        self.phase = None

    def add(self, kind: str, ids: list[int]) -> None:
        if kind == "delimiter":
            return
        phase = "answer" if kind in ("answer", "final_answer_prefix") else "thinking"
        if phase != self.phase:
            self.phase = phase
            label = "\n[answer] " if phase == "answer" else "[thinking] "
            self._write((RESET + (BOLD if phase == "answer" else DIM) if self.color else "") + label)
        if kind in FORCED:
            self.kind, self.ids, self.shown = kind, [], ""
            self._write(self._mark(self.tokenizer.decode(ids, skip_special_tokens=True), kind))
            return
        if kind != self.kind:  # a new run of model text
            self.kind, self.ids, self.shown = kind, [], ""
        self.ids += ids
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if not text.endswith("\ufffd"):
            self._write(text[len(self.shown) :])
            self.shown = text

    def _mark(self, text: str, kind: str) -> str:
        if not self.color:
            return f"[{text}]" if text else "[]"
        back = DIM if self.phase == "thinking" else BOLD
        return f"{FORCED[kind]}{text}{RESET}{back}"

    def end(self) -> None:
        self._write((RESET if self.color else "") + "\n")

    @staticmethod
    def _write(s: str) -> None:
        sys.stdout.write(s)
        sys.stdout.flush()


def plain_answer(model, tokenizer, question: str, max_tokens: int) -> str:
    """A plain chat turn (no think block), for models that do not know the s1 format."""

    msgs = [{"role": "user", "content": question}]
    text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids.to(model.device)
    with torch.inference_mode():
        out = model.generate(
            ids, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()


def ask(
    engine: HFEngine, fmt: FormatArgs, budget: BudgetArgs, question: str, printer: _Printer | None
) -> BudgetResult:
    """Stream one budget-forced answer; returns its result."""
    request = budget.request(render_prompt(engine.tokenizer, fmt, question))
    result = None
    for item in engine.stream(request):
        if isinstance(item, TokenEvent):
            if printer:
                printer.add(item.kind, item.ids)
        else:
            result = item
    return result


def repl(engine: HFEngine, fmt: FormatArgs, budget: BudgetArgs) -> None:
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    print(f"budget-forced chat: thinking {budget.min_thinking_tokens}-{budget.max_thinking_tokens} tokens, "
          f"num_ignore {budget.num_ignore}. Ctrl-C stops an answer; Ctrl-D or 'exit' quits.")  # fmt: skip
    while True:
        try:
            question = input("\nyou> ").strip()
        except KeyboardInterrupt:  # at the prompt, Ctrl-C clears the line, as in a shell
            print()
            continue
        except EOFError:
            print()
            return
        if question in ("exit", "quit"):
            return
        if not question:
            continue
        printer, start = _Printer(engine.tokenizer, color), time.perf_counter()
        try:
            r = ask(engine, fmt, budget, question, printer)
        except KeyboardInterrupt:
            printer.end()
            print("[stopped]")
            continue
        except ValueError as e:
            print(f"error: {e}")
            continue
        printer.end()
        seconds = time.perf_counter() - start
        print(f"[thinking {r.thinking_tokens} tok, answer {r.answer_tokens} tok, forced {r.num_forced}, "
              f"{'hit max, ' if r.hit_max else ''}{seconds:.1f} s, {r.generated_tokens / seconds:.1f} tok/s]")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    model_args, fmt, budget, args, backend = parse_config(
        [ModelArgs, FormatArgs, BudgetArgs, ChatArgs, BackendArgs], argv, doc=__doc__
    )
    if args.prompt is not None and not args.prompt.strip():
        raise ConfigError("--prompt is empty")
    if args.no_think:
        if args.prompt is None:
            raise ConfigError("--no-think needs --prompt")
        if backend.is_vllm:
            raise ConfigError(
                "--no-think (a plain chat turn through transformers' generate) runs on --backend hf"
            )
        model, tokenizer = load_model(model_args)
        answer = plain_answer(model, tokenizer, args.prompt, budget.max_answer_tokens)
        print(json.dumps({"thinking": "", "answer": answer}) if args.json else answer)
        return 0
    engine, tokenizer = build_engine(model_args, fmt, backend, batch_size=1)
    if args.prompt is None:
        repl(engine, fmt, budget)
        return 0
    printer = (
        None if args.json else _Printer(tokenizer, sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    )
    result = ask(engine, fmt, budget, args.prompt, printer)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        printer.end()
    return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
