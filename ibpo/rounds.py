"""One IBPO round: sample k responses per question, grade and group them, select, write the SFT set.

rows = sample(engine, tokenizer, fmt, items, args, seed, path)    # appended per question: resumable
chosen, stats = choose(rows, q, args)                              # one ILP per batch of questions
train_rows(chosen_rows, tokenizer, fmt)                            # s1-format text for sft.train
"""

from __future__ import annotations

import time

from thinkscale.common.chat_format import render_example, render_prompt
from thinkscale.common.io import JsonlAppender, read_jsonl
from thinkscale.eval.benchmarks import Item
from thinkscale.grading.grade import grade
from thinkscale.ibpo.groups import length_group
from thinkscale.ibpo.select import select
from thinkscale.inference.forcing.budget import BudgetRequest


def sample(engine, tokenizer, fmt, items: list[Item], args, seed: int, path) -> list[dict]:
    """k graded, grouped responses per question; questions already in `path` are not sampled again."""
    rows = read_jsonl(path, allow_torn_tail=True) if path.exists() else []
    have = {r["id"] for r in rows}
    todo = [it for it in items if it.id not in have]
    if todo:
        reqs, owners = [], []
        for q, it in enumerate(todo):
            prompt = render_prompt(tokenizer, fmt, it.question)
            for j in range(args.samples):
                reqs.append(BudgetRequest(prompt, max_thinking_tokens=args.max_thinking_tokens,
                                          max_answer_tokens=args.max_answer_tokens, thinking_temperature=args.temperature,
                                          answer_temperature=0.0, seed=seed * 1_000_003 + 1000 * q + j))  # fmt: skip
                owners.append((it, j))
        pending: dict[str, list] = {it.id: [] for it in todo}
        with JsonlAppender(path) as sink:

            def done(i: int, r) -> None:
                it, j = owners[i]
                g = grade(r.answer or "", it.gold)
                pending[it.id].append({"id": it.id, "j": j, "question": it.question, "gold": it.gold, "level": it.level,
                                       "thinking": r.thinking, "answer": r.answer, "extracted": g.extracted,
                                       "correct": g.correct, "thinking_tokens": r.thinking_tokens,
                                       "generated_tokens": r.generated_tokens,
                                       "group": length_group(r.thinking, r.thinking_tokens, args.group_by, args.long_tokens)})  # fmt: skip
                if len(pending[it.id]) == args.samples:  # a question is written whole, or not at all
                    for row in sorted(pending.pop(it.id), key=lambda x: x["j"]):
                        sink.write(row)
                        rows.append(row)

            engine.generate(reqs, on_result=done)
    return rows


def choose(rows: list[dict], q: float, args) -> tuple[list[dict], dict]:
    """Solve the selection program batch by batch (`ilp_batch` questions each)."""
    ids = list(dict.fromkeys(r["id"] for r in rows))
    chosen, batches = [], []
    for start in range(0, len(ids), args.ilp_batch):
        batch_ids = set(ids[start : start + args.ilp_batch])
        batch = [r for r in rows if r["id"] in batch_ids]
        t0 = time.perf_counter()
        picks = select([r["correct"] for r in batch], [r["group"] == "extended" for r in batch],
                       [r["id"] for r in batch], q, args.per_question, [r["generated_tokens"] for r in batch])  # fmt: skip
        picked = [r for r, p in zip(batch, picks, strict=True) if p]
        chosen += picked
        batches.append({"responses": len(batch), "right": sum(r["correct"] for r in batch),
                        "right_extended": sum(r["correct"] and r["group"] == "extended" for r in batch),
                        "chosen": len(picked), "chosen_extended": sum(r["group"] == "extended" for r in picked),
                        "seconds": round(time.perf_counter() - t0, 4)})  # fmt: skip
    stats = {"q": q, "responses": len(rows), "right": sum(r["correct"] for r in rows),
             "extended": sum(r["group"] == "extended" for r in rows), "chosen": len(chosen),
             "chosen_extended": sum(r["group"] == "extended" for r in chosen), "batches": batches}  # fmt: skip
    return chosen, stats


def train_rows(chosen: list[dict], tokenizer, fmt) -> list[dict]:
    """The chosen responses as s1-format training rows (the model's own thinking, the graded answer)."""
    out = []
    for r in chosen:
        prompt, completion = render_example(tokenizer, fmt, r["question"], r["thinking"], r["extracted"])
        out.append({"id": f"{r['id']}#{r['j']}", "question": r["question"], "prompt_text": prompt,
                    "text": prompt + completion, "group": r["group"], "level": r["level"]})  # fmt: skip
    return out
