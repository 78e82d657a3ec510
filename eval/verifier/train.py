"""Train the offline verifier: a value head on the policy's hidden states, labelled by the grader.

    thinkscale verifier --config recipes/smollm2-135m/verifier.yaml

The policy samples `samples` solutions to each of `questions` training questions (the data stage's
train.jsonl: questions the policy was trained on, none from the test split), step by step, keeping
its last hidden state at the end of every step and after the answer. Every state is labelled with
whether that solution's final answer is right (outcome supervision, used for every step, as in
ORM-as-PRM training). A logistic value head is fitted on the states of 1 - `holdout` of the
questions; its AUROC on the held-out questions' solutions is measured and saved. Writes
outputs/verifier/<name>/: head.safetensors, verifier.json (model, L2, AUROCs, counts),
features/<settings>/chunk-*.pt (the sampled states, 25 questions a file: a rerun or a larger
--questions samples only what is missing), config.yaml. The L2 penalty is chosen from --l2 by
5-fold cross-validation over the training questions.
"""

from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.config import config_dict, parse_config, run_cli, save_config
from thinkscale.common.errors import ConfigError
from thinkscale.common.io import atomic_write_bytes
from thinkscale.common.paths import output_root, stage_dir
from thinkscale.common.provenance import provenance
from thinkscale.common.restart import RestartArgs, claimed_run
from thinkscale.common.validate import at_least
from thinkscale.eval.benchmarks import Item, load_train_questions
from thinkscale.eval.compute import Compute
from thinkscale.eval.policy import Policy, PolicySettings, load_policy
from thinkscale.eval.verifier.head import ValueHead, auroc
from thinkscale.inference.backend import BackendArgs
from thinkscale.inference.models.load import ModelArgs
from thinkscale.inference.vllm.tree import read_states, step_ends

CHUNK = 25  # questions sampled (and cached) together


@dataclass
class VerifierArgs:
    _argument_group_name = "verifier training"  # its flags' heading in --help
    name: str = field(default="verifier", metadata={"help": "Folder under outputs/verifier/."})
    output_root: str | None = field(default=None, metadata={"help": "Outputs root (default ./outputs)."})
    train_file: str | None = field(
        default=None,
        metadata={"help": "JSON-lines with question and gold (default: the data stage's train.jsonl)."},
    )
    data_name: str = field(
        default="smollm2-135m-builtin", metadata={"help": "outputs/data/<name>/train.jsonl."}
    )
    questions: int = field(default=200, metadata={"help": "Training questions used (the first ones)."})
    samples: int = field(default=4, metadata={"help": "Solutions sampled per question."})
    holdout: float = field(default=0.2, metadata={"help": "Share of questions held out for the AUROC."})
    l2: list[float] = field(
        default_factory=lambda: [0.01, 0.1, 1.0, 10.0],
        metadata={"help": "L2 penalties tried; the best by 5-fold question-level CV is used."},
    )
    batch_size: int = field(default=48, metadata={"help": "Paths decoded together."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})

    def __post_init__(self) -> None:
        if not 0 < self.holdout < 1:
            raise ConfigError(f"--holdout must be in (0, 1), got {self.holdout}")
        at_least(self, 1, "batch_size")
        if self.questions < 2 or self.samples < 1:
            raise ConfigError(
                f"--questions must be >= 2 and --samples >= 1, got {self.questions}, {self.samples}"
            )


def load_questions(args: VerifierArgs) -> list[Item]:
    path = args.train_file or output_root(args.output_root) / "data" / args.data_name / "train.jsonl"
    return load_train_questions(Path(path), args.questions)


def sample_paths(policy: Policy, items: list[Item], n: int, seed: int) -> list[dict]:
    """n step-by-step solutions per question: the hidden state after each step and after the answer."""
    computes = [Compute() for _ in items]
    roots = policy.roots(items, computes)
    paths = [{"q": q, "nodes": [roots[q]], "states": []} for q in range(len(items)) for _ in range(n)]
    depth = 0
    while live := [p for p in paths if not p["nodes"][-1].done]:
        kids = policy.expand([p["nodes"][-1] for p in live], [p["q"] for p in live], computes, "step",
                             [seed * 1_000_003 + 7919 * depth + j for j in range(len(live))])  # fmt: skip
        for p, kid in zip(live, kids, strict=True):
            p["states"].append(kid.hidden)
            p["nodes"] = [kid]  # only the newest node is kept: its parent's cache can be freed
        depth += 1
    out = []
    for p in paths:
        node, item = p["nodes"][-1], items[p["q"]]
        answer = policy.answer(node)
        out.append(
            {"q": p["q"], "states": torch.stack(p["states"]), "correct": policy.is_right(answer, item)}
        )
    return out


def sample_whole_paths(policy: Policy, items: list[Item], n: int, seed: int) -> list[dict]:
    """`sample_paths` on a decoder that expands whole paths (vLLM): each solution is sampled at once, its
    step ends are found afterwards (`step_ends`, the tree decoder's rule) and the states at those tokens
    and after the answer are read in one forward pass per path. Greedy: equal to `sample_paths`."""

    computes = [Compute() for _ in items]
    roots = policy.roots(items, computes)
    parents = [roots[q] for q in range(len(items)) for _ in range(n)]
    owners = [q for q in range(len(items)) for _ in range(n)]
    kids = policy.expand(
        parents, owners, computes, "done", [seed * 1_000_003 + j for j in range(len(parents))]
    )
    out = []
    model = policy.tree.state_model()
    for q, node in zip(owners, kids, strict=True):
        ends = step_ends(policy.tree, node, policy.s.step_delimiter, policy.s.max_step_tokens,
                         policy.s.max_thinking_tokens) + [node.state_at]  # fmt: skip
        states = read_states(model, [node.ids], [ends])[0]
        answer = policy.answer(node)
        out.append({"q": q, "states": states, "correct": policy.is_right(answer, items[q])})
    return out


def _split(n_questions: int, args: VerifierArgs) -> set[int]:
    """Held-out question indices: a seeded hash, so growing --questions keeps the earlier split."""
    return {q for q in range(n_questions)
            if int(hashlib.blake2b(f"{args.seed}:{q}".encode(), digest_size=4).hexdigest(), 16) % 1000 < 1000 * args.holdout}  # fmt: skip


def _xy(paths: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.cat([p["states"] for p in paths])
    return x, torch.cat([torch.full((len(p["states"]),), float(p["correct"])) for p in paths])


def choose_l2(paths: list[dict], grid: list[float], folds: int = 5) -> tuple[float, dict]:
    """The L2 penalty with the best cross-validated outcome AUROC (folds by question, not by state)."""
    scores = {}
    for l2 in grid:
        pairs = []
        for fold in range(folds):
            train = [p for p in paths if p["q"] % folds != fold]
            held = [p for p in paths if p["q"] % folds == fold]
            if not held or len({p["correct"] for p in train}) < 2:
                continue
            head = ValueHead.fit(*_xy(train), l2=l2)
            pairs += [(float(head.prob(p["states"][-1:])[0]), p["correct"]) for p in held]
        scores[l2] = auroc([s for s, _ in pairs], [c for _, c in pairs]) if pairs else None
    best = max(grid, key=lambda l2: -1.0 if scores[l2] is None else scores[l2])
    return best, scores


def fit_and_measure(paths: list[dict], n_questions: int, args: VerifierArgs) -> tuple[ValueHead, dict]:
    held = _split(n_questions, args)
    train = [p for p in paths if p["q"] not in held]
    test = [p for p in paths if p["q"] in held]
    l2, cv = choose_l2(train, args.l2)
    head = ValueHead.fit(*_xy(train), l2=l2)
    outcome = [float(head.prob(p["states"][-1:])[0]) for p in test]
    steps = [(float(s), p["correct"]) for p in test for s in head.prob(p["states"])]
    info = {
        "l2": l2, "cv_outcome_auroc": cv,
        "train_paths": len(train), "train_correct": sum(p["correct"] for p in train),
        "heldout_paths": len(test), "heldout_correct": sum(p["correct"] for p in test),
        "outcome_auroc": auroc(outcome, [p["correct"] for p in test]),
        "step_auroc": auroc([s for s, _ in steps], [c for _, c in steps]),
    }  # fmt: skip
    return head, info


def sampled_paths(model_args, fmt, pset, args: VerifierArgs, items: list[Item], out: Path,
                  backend: BackendArgs | None = None) -> list[dict]:  # fmt: skip
    """Every chunk's sampled solutions, each chunk cached on disk once sampled (a rerun, or a larger
    --questions, decodes only the chunks it lacks)."""
    backend = backend or BackendArgs()
    keep = config_dict(model_args, fmt, pset, args)
    if backend.is_vllm:  # another random stream when sampling: its own cache (hf keys stay as they were)
        keep["backend"] = backend.backend
    for k in ("name", "output_root", "questions", "holdout", "l2"):
        keep.pop(k, None)
    folder = (
        out / "features" / hashlib.blake2b(repr(sorted(keep.items())).encode(), digest_size=6).hexdigest()
    )
    folder.mkdir(parents=True, exist_ok=True)
    policy, paths = None, []
    from tqdm import tqdm

    for start in tqdm(range(0, len(items), CHUNK), desc="sampled solutions", unit="chunk"):
        chunk = items[start : start + CHUNK]
        path = folder / f"chunk-{start:06d}-{len(chunk)}.pt"
        if not path.exists():
            policy = policy or load_policy(model_args, fmt, pset, args.batch_size, backend, states=True)
            sample = sample_whole_paths if backend.is_vllm else sample_paths
            rows = sample(policy, chunk, args.samples, args.seed + start)
            for p in rows:
                p["q"] += start
            buf = io.BytesIO()
            torch.save(rows, buf)
            atomic_write_bytes(path, buf.getvalue())
        paths += torch.load(path, weights_only=False)
    if policy is not None:
        policy.tree.close()
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    model_args, fmt, pset, args, backend, again = parse_config(
        [ModelArgs, FormatArgs, PolicySettings, VerifierArgs, BackendArgs, RestartArgs], argv, doc=__doc__
    )
    items = load_questions(args)
    out = stage_dir("verifier", args.name, args.output_root)
    with claimed_run(out, "verifier training", again.restart):  # restart: the sampled states go too
        out.mkdir(parents=True, exist_ok=True)
        save_config(out / "config.yaml", model_args, fmt, pset, args, backend)
        paths = sampled_paths(model_args, fmt, pset, args, items, out, backend)
        head, info = fit_and_measure(paths, len(items), args)
        info = {"model": model_args.model, "step_delimiter": pset.step_delimiter, "questions": len(items),
                "samples_per_question": args.samples, **info, "provenance": provenance()}  # fmt: skip
        head.save(out, info)
        # AUROC needs both right and wrong held-out solutions; a small or lopsided hold-out has none.
        fmt_auroc = lambda v: "n/a (held-out solutions of one kind)" if v is None else f"{v:.3f}"  # noqa: E731
        print(f"value head (l2 {info['l2']}): outcome AUROC {fmt_auroc(info['outcome_auroc'])}, step AUROC "
              f"{fmt_auroc(info['step_auroc'])} on {info['heldout_paths']} held-out solutions "
              f"({info['heldout_correct']} correct); written {out}")  # fmt: skip
        return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
