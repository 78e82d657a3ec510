"""One-shot chat with a model in the s1 think/answer format (the interactive REPL comes with the
budget-forcing engine).

    python -m inference.chat --prompt "What is 7 + 5?" --no-think
    python -m inference.chat --prompt "What is 7 + 5?" --json --model outputs/sft/<name>/final
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from common.chat_format import FormatArgs, parse_completion, render_prompt
from common.config import parse_config, run_cli
from inference.models import ModelArgs, load_model


@dataclass
class ChatArgs:
    prompt: str | None = field(default=None, metadata={"help": "Question to answer once."})
    json: bool = field(default=False, metadata={"help": "Print one JSON object instead of text."})
    no_think: bool = field(
        default=False, metadata={"help": "Plain chat turn, without the think/answer format."}
    )
    max_new_tokens: int = field(default=256, metadata={"help": "Tokens to generate at most."})

    def __post_init__(self) -> None:
        if self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be positive, got {self.max_new_tokens}")


def answer_once(model, tokenizer, fmt: FormatArgs, args: ChatArgs) -> dict:
    import torch

    if args.no_think:
        msgs = [{"role": "user", "content": args.prompt}]
        prompt = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    else:
        prompt = render_prompt(tokenizer, fmt, args.prompt)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids.to(model.device)
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=args.max_new_tokens, do_sample=False)
    new = out[0, ids.shape[1] :]
    text = tokenizer.decode(new, skip_special_tokens=False)
    if args.no_think:
        parsed_thinking, answer = "", text.split(fmt.end_of_turn)[0].strip()
    else:
        parsed = parse_completion(fmt, text)
        parsed_thinking, answer = parsed.thinking, parsed.answer
    return {
        "thinking": parsed_thinking,
        "answer": answer,
        "generated_tokens": len(new),
        "seconds": round(time.perf_counter() - start, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    model_args, fmt, args = parse_config([ModelArgs, FormatArgs, ChatArgs], argv)
    if not args.prompt or not args.prompt.strip():
        raise ValueError("--prompt is required and must not be empty")
    model, tokenizer = load_model(model_args)
    result = answer_once(model, tokenizer, fmt, args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        if result["thinking"]:
            print(f"[thinking]\n{result['thinking']}\n")
        print(result["answer"])
    return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
