"""`make eval`: the test-time scaling study — accuracy against thinking tokens, per control method.

    thinkscale eval --config recipes/smollm2-135m/eval.yaml [--methods budget_forcing wait ...]

For each method in `--methods` (see `eval.methods`) and each sweep point (`--budgets` in thinking
tokens; `wait` sweeps `--wait-counts`; `class_conditional` sweeps short/long) every question is
decoded with the batch budget-forcing decoder and graded. `--baseline-model` adds the budget-forcing
sweep of a second model (the untuned default) on the same axes. Writes `outputs/eval/<run>/`, the
run named after model, benchmark and settings: samples.jsonl (one object per sample and point,
appended as they finish, so an interrupted run resumes and finished points are reused),
metrics.json, summary.md, scaling.png, config.yaml.

Several benchmarks (`--benchmark aime24,math500,gpqa_diamond`) run one after another, a run folder
each, and `outputs/eval/<first run>_table.md` puts them side by side as s1's Table 1 does (and
`<first run>_scaling.png` draws them, a panel each):

    thinkscale eval --config recipes/qwen2.5-32b/eval.yaml             # s1-32B's rows (GPUs)
    thinkscale eval --config recipes/qwen2.5-32b/eval.yaml --dry-run   # what it would decode (any machine)
"""

from __future__ import annotations

import hashlib
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from tqdm import tqdm

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.common.config import config_dict, parse_config, recipe_differences, run_cli, save_config
from thinkscale.common.errors import ConfigError
from thinkscale.common.io import JsonlAppender, atomic_write_json, atomic_write_text, read_jsonl
from thinkscale.common.paths import stage_dir
from thinkscale.common.provenance import provenance
from thinkscale.common.restart import RestartArgs, claimed_run
from thinkscale.common.validate import at_least
from thinkscale.eval.benchmarks import (
    PUBLISHED_SIZES,
    BenchmarkArgs,
    benchmark_source,
    load_benchmark,
    local_copy,
)
from thinkscale.eval.intervals import percent
from thinkscale.eval.methods import METHODS, NO_FORCING, Context
from thinkscale.eval.published import published_row
from thinkscale.eval.report import (
    benchmarks_plot,
    method_metrics,
    points_by_benchmark,
    scaling_plot,
    summary_markdown,
)
from thinkscale.eval.view import write_report
from thinkscale.inference.backend import BackendArgs, backend_suffix
from thinkscale.inference.engine_args import build_engine
from thinkscale.inference.forcing.budget import MAX_ANSWER_TOKENS
from thinkscale.inference.forcing.request import UNBOUNDED
from thinkscale.inference.models.load import ModelArgs


@dataclass
class EvalArgs:
    """The sweep (recipe keys of the same names)."""

    _argument_group_name = "study: methods, budgets, run"  # its flags' heading in --help

    name: str | None = field(
        default=None,
        metadata={
            "help": "Run folder under outputs/eval/ (default: from the settings; `_vllm` appended on vLLM)."
        },
    )
    output_root: str | None = field(default=None, metadata={"help": "Outputs root (default ./outputs)."})
    methods: list[str] = field(
        default_factory=lambda: ["budget_forcing"], metadata={"help": f"Any of: {', '.join(METHODS)}."}
    )
    budgets: list[int] = field(
        default_factory=lambda: [16, 32, 64, 128], metadata={"help": "Thinking budgets (tokens)."}
    )
    wait_counts: list[int] = field(
        default_factory=lambda: [0, 1, 2, 4], metadata={"help": "`wait`: suppressions."}
    )
    compare_limit: int | None = field(
        default=None,
        metadata={"help": "Questions for methods other than budget_forcing/wait (a seeded subset)."},
    )
    baseline_model: str | None = field(
        default=None, metadata={"help": "Also sweep budget forcing with this model."}
    )
    max_answer_tokens: int = field(
        default=MAX_ANSWER_TOKENS,
        metadata={"help": "Most tokens in the answer (s1's recipes: 32768, no cap short of the context)."},
    )
    wait_max_thinking: str = field(
        default="512",
        metadata={"help": "`wait`: the thinking cap, in tokens, or auto: s1's max_tokens_thinking=auto, per benchmark "
                  "the context (--max-model-len) minus the longest prompt, think_start, think_end + "
                  "final_answer_prefix and 100 answer tokens."},
    )  # fmt: skip
    wait_ignore_strings: list[str] = field(
        default_factory=lambda: ["Wait"],
        metadata={"help": "`wait`: the ignore strings, in turn (s1: Wait; its Table 4 also Hmm, Alternatively, and "
                  "\"\" for nothing appended)."},
    )  # fmt: skip
    unforced_max_thinking: int = field(
        default=1024, metadata={"help": "Unforced methods: a safety cap on thinking."}
    )
    tokens_per_step: int = field(default=16, metadata={"help": "step_conditional: tokens per stated step."})
    sample_temperature: float = field(
        default=1.0, metadata={"help": "rejection_sampling: thinking temperature (s1: 1)."}
    )
    max_tries: int = field(
        default=64,
        metadata={"help": "rejection_sampling: a safety limit on tries per question (s1 has none); "
                  "samples that hit it are counted in the report."},
    )  # fmt: skip
    samples_per_question: int = field(
        default=1,
        metadata={"help": "Samples per question and point; above 1, accuracy is pass@1 averaged over them "
                  "(needs --temperature > 0)."},
    )  # fmt: skip
    temperature: float = field(
        default=0.0,
        metadata={"help": "Decoding temperature of every method but rejection_sampling (0: greedy, s1)."},
    )
    batch_size: int = field(default=40, metadata={"help": "Requests decoded together."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
    dry_run: bool = field(
        default=False,
        metadata={"help": "Print what would be decoded (requests, most tokens) and exit; loads no model."},
    )

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"--methods: unknown {unknown}; known: {', '.join(METHODS)}")
        if not self.budgets or any(b <= 0 for b in self.budgets):
            raise ConfigError(f"--budgets must be positive token counts, got {self.budgets}")
        if any(k < 0 for k in self.wait_counts):
            raise ConfigError(f"--wait-counts must be >= 0, got {self.wait_counts}")
        at_least(self, 1, "max_answer_tokens", "unforced_max_thinking", "tokens_per_step",
                 "max_tries", "batch_size", "samples_per_question")  # fmt: skip
        self.wait_max_thinking = str(self.wait_max_thinking).strip()  # a recipe's YAML gives an int
        if self.wait_max_thinking != "auto" and not (
            self.wait_max_thinking.isdigit() and int(self.wait_max_thinking) >= 1
        ):
            raise ConfigError(
                f"--wait-max-thinking must be a token count >= 1 or auto, got {self.wait_max_thinking!r}"
            )
        if not self.wait_ignore_strings:
            raise ConfigError('--wait-ignore-strings needs at least one string ("": append nothing)')
        at_least(self, 0, "temperature")
        if self.samples_per_question > 1 and self.temperature == 0:
            raise ConfigError(
                "--samples-per-question above 1 needs --temperature > 0: greedy samples are all alike"
            )
        if self.sample_temperature <= 0:
            raise ConfigError(
                f"--sample-temperature must be > 0 (rejection sampling samples), got {self.sample_temperature}"
            )


def run_name(model: ModelArgs, bench: BenchmarkArgs, ev: EvalArgs, fmt: FormatArgs,
             backend: BackendArgs | None = None) -> str:  # fmt: skip
    """--name, else model, benchmark, methods and a settings hash; `_vllm` is appended to the vLLM
    backend's runs (to --name too), so the two backends' samples never mix in one file."""
    suffix = backend_suffix(backend)
    if ev.name:
        return ev.name + suffix
    model_tag = re.sub(r"[^A-Za-z0-9._-]+", "-", model.model.rstrip("/").replace("outputs/sft/", "")).strip(
        "-"
    )[-48:]
    bench_tag = _tag(bench.benchmark)
    settings = config_dict(bench, ev, fmt)
    settings.pop("output_root", None)
    settings.pop("dry_run", None)
    tag = hashlib.blake2b(repr(sorted(settings.items())).encode(), digest_size=4).hexdigest()
    return f"{model_tag}_{bench_tag}_{'+'.join(ev.methods)}_{tag}{suffix}"


def context_of(backend: BackendArgs | None) -> int:
    """The context a request may fill: --max-model-len, else unbounded (the model's own ends it)."""
    return backend.max_model_len if backend is not None and backend.max_model_len else UNBOUNDED


def wait_cap(ev: EvalArgs, questions: list[str], tokenizer, fmt: FormatArgs, context: int | None) -> int:
    """`wait`'s thinking cap: the recipe's number, or s1's `auto` (its vllm_causallms.py): the context
    minus the longest prompt (without think_start), think_start, think_end + final_answer_prefix and
    100 tokens left for the answer. The prompts are rendered only for `auto`."""
    if ev.wait_max_thinking != "auto":
        return int(ev.wait_max_thinking)
    if not context or context == UNBOUNDED:
        raise ConfigError("--wait-max-thinking auto needs --max-model-len (the context it is taken from)")

    def length(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    longest = max(length(render_prompt(tokenizer, fmt, q).removesuffix(fmt.think_start)) for q in questions)
    cap = context - longest - length(fmt.think_start) - length(fmt.think_end + fmt.final_answer_prefix) - 100
    if cap < 1:
        raise ConfigError(f"--wait-max-thinking auto: the longest prompt ({longest} tokens) leaves no thinking in "
                         f"--max-model-len {context}")  # fmt: skip
    return cap


def sweep_points(method: str, ev: EvalArgs) -> list:
    if method == "wait":
        return list(ev.wait_counts)
    if method == "no_forcing":
        return [NO_FORCING]
    if method == "class_conditional":
        return ["short", "long"]
    return list(ev.budgets)


# Settings that say what to sweep, not how a sample is decoded: a rerun may change them and keep the
# samples it already has (a new budget or method adds points; the old ones are reused; another
# --limit reuses the questions the two subsets share: samples are keyed by question id, and the
# benchmark folder holds the Hub's rows under the Hub's ids).
PLAN_FIELDS = ("name", "output_root", "limit", "benchmark_dir", "methods", "budgets", "wait_counts",
               "compare_limit", "baseline_model",
               "samples_per_question", "batch_size", "dry_run", "kv_cache_gib", "gpu_memory_utilization",
               "enforce_eager", "tensor_parallel_size", "data_parallel_size")  # fmt: skip


def _key(label: str, point, qid, sample: int) -> tuple:
    """A sample's identity in samples.jsonl: what a resumed run skips."""
    return label, str(point), qid, sample


def main(argv: Sequence[str] | None = None) -> int:
    model_args, fmt, bench, ev, backend, again = parse_config(
        [ModelArgs, FormatArgs, BenchmarkArgs, EvalArgs, BackendArgs, RestartArgs], argv, doc=__doc__
    )
    names = [b.strip() for b in bench.benchmark.split(",") if b.strip()]
    if not names:
        raise ConfigError("--benchmark is empty")
    runs = []
    for name in names:
        one = replace(bench, benchmark=name)
        # Several benchmarks under one --name: a run folder each, the benchmark appended.
        ev_one = replace(ev, name=f"{ev.name}_{_tag(name)}") if ev.name and len(names) > 1 else ev
        if ev.dry_run:
            print(dry_run(model_args, one, ev_one, fmt, backend))
            continue
        runs.append((name, *_study(model_args, fmt, one, ev_one, backend, again.restart)))
    if len(runs) > 1:
        table = benchmark_table(runs, model_args.model, ev.wait_ignore_strings)
        path = stage_dir("eval", f"{runs[0][1].name}_table.md", ev.output_root)
        atomic_write_text(path, table)
        plot = path.with_name(f"{runs[0][1].name}_scaling.png")
        benchmarks_plot([(name, metrics) for name, _, metrics in runs], plot, model_args.model)
        print(table)
        print(f"written: {path}, {plot}")
    return 0


def _tag(benchmark: str) -> str:
    """A benchmark's name as a folder-name part: its last path part, odd characters dashed."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", benchmark.rsplit("/", 1)[-1])


def _sweep_plan(model_args: ModelArgs, ev: EvalArgs) -> list[tuple[str, str]]:
    plan = [(model_args.model, m) for m in ev.methods]
    if ev.baseline_model:
        plan.append((ev.baseline_model, "budget_forcing"))
    return plan


def dry_run(model_args: ModelArgs, bench: BenchmarkArgs, ev: EvalArgs, fmt: FormatArgs, backend=None) -> str:
    """What a run would decode, without loading a model: per method and point, the requests and the
    most tokens one request can generate (thinking cap + forced delimiter, newline and final-answer
    prefix + answer cap, or the context when that is smaller). Hub benchmarks are counted at their
    published size (a dry run downloads nothing); local ones are read."""
    if bench.benchmark in PUBLISHED_SIZES and local_copy(bench) is None:  # a dry run downloads nothing
        n, source = PUBLISHED_SIZES[bench.benchmark], "published size; not downloaded"
    else:
        n, source = len(load_benchmark(bench, ev.output_root)), "loaded"
    if bench.limit:
        n = min(n, bench.limit)
    # Delimiter, newline and prefix counted in characters: a token is at least one character.
    forced = len(fmt.think_end) + 1 + len(fmt.final_answer_prefix)
    lines = [f"dry run: {model_args.model} on {bench.benchmark}: {n} questions ({source}); "
             f"{ev.samples_per_question} sample(s) per question; run folder "
             f"{stage_dir('eval', run_name(model_args, bench, ev, fmt, backend), ev.output_root)}",
             "method | point | requests | thinking cap | most tokens per request | most tokens in all"]  # fmt: skip
    total = 0
    for model, method in _sweep_plan(model_args, ev):
        questions = n if method == "budget_forcing" or not ev.compare_limit else min(n, ev.compare_limit)
        label = method if model == model_args.model else f"{method} [{model}]"
        for point in sweep_points(method, ev):
            cap = {"budget_forcing": None, "token_conditional_bf": None, "step_conditional_bf": None,
                   "wait": ev.wait_max_thinking if ev.wait_max_thinking == "auto" else int(ev.wait_max_thinking),
                   "no_forcing": "context"}.get(method, ev.unforced_max_thinking)  # fmt: skip
            cap = int(point) if cap is None else cap
            if cap in ("auto", "context"):  # known once the prompts are tokenized: the context bounds it
                cap = context_of(backend)
            tries = ev.max_tries if method == "rejection_sampling" else 1
            requests = questions * ev.samples_per_question * tries
            most = cap + forced + ev.max_answer_tokens
            if backend is not None and backend.max_model_len:  # the context ends a request sooner
                most = min(most, backend.max_model_len)
            total += requests * most
            shown = (
                "auto" if method == "wait" and ev.wait_max_thinking == "auto" else cap
            )  # measured at run time
            lines.append(f"{label} | {point} | {requests} | {shown} | {most} | {requests * most}")
    capped = " (rejection sampling at its try cap)" if "rejection_sampling" in ev.methods else ""
    lines.append(f"at most {total} generated tokens in all{capped}; prompts not counted")
    return "\n".join(lines)


def benchmark_table(runs: list[tuple], model: str = "", ignore_strings=("Wait",)) -> str:
    """s1's Table 1 shape: a row per method and point, a column per benchmark, accuracy [95%]; beside
    each, the row s1 published for the same run (`eval.published`), named, where there is one."""
    rows = points_by_benchmark([(name, metrics) for name, _, metrics in runs])
    head = [name for name, _, _ in runs]
    lines = ["| method | point | " + " | ".join(head) + " | s1's published row |",
             "|---|---|" + "---|" * len(head) + "---|"]  # fmt: skip
    for (label, point), cells in rows.items():
        pub = published_row(model, label, point, ignore_strings)
        text = []
        for h in head:
            c = cells.get(h)
            cell = f"{percent(c['accuracy'], c['ci95'])} ({c['mean_thinking_tokens']:.0f} tok)" if c else "—"
            if pub and h in pub[1]:
                cell += f"; s1: {pub[1][h]:.1f}"
            text.append(cell)
        lines.append(f"| {label} | {point} | " + " | ".join(text) + f" | {pub[0] if pub else '—'} |")
    return (
        "Accuracy in % [95% interval] (mean thinking tokens); s1: its published accuracy for the same run\n\n"
        + "\n".join(lines)
        + "\n"
    )


def _study(model_args, fmt, bench, ev, backend, restart: bool):
    """One benchmark's sweep: (run folder, metrics)."""
    items = load_benchmark(bench, ev.output_root)
    out = stage_dir("eval", run_name(model_args, bench, ev, fmt, backend), ev.output_root)
    with claimed_run(out, "the s1 study", restart):
        out.mkdir(parents=True, exist_ok=True)
        saved = out / "config.yaml"
        changed = (
            recipe_differences(saved, model_args, fmt, bench, ev, backend, ignore=PLAN_FIELDS)
            if saved.exists()
            else []
        )
        if changed:
            # Samples decoded under other settings would be reused as if they were this recipe's.
            raise ConfigError(f"{out} holds samples decoded with other settings (differs in: {', '.join(changed)}); "
                             "use another --name, or --restart to start it over")  # fmt: skip
        save_config(saved, model_args, fmt, bench, ev, backend)
        path = out / "samples.jsonl"
        samples = read_jsonl(path, allow_torn_tail=True) if path.exists() else []
        done = {_key(s["label"], s["budget"], s["id"], s.get("sample", 0)) for s in samples}

        plan = _sweep_plan(model_args, ev)
        compare_ids = None
        if ev.compare_limit and ev.compare_limit < len(items):
            compare_ids = set(
                random.Random(bench.subset_seed + 1).sample([it.id for it in items], ev.compare_limit)
            )
        engines: dict[str, tuple] = {}
        cap = None  # `wait`'s thinking cap, measured on the first engine's tokenizer
        wanted: set[tuple] = set()  # this plan's samples; others in the file (an older plan's) are left out
        with JsonlAppender(path) as sink:
            for model, method in plan:
                label = method if model == model_args.model else f"{method} [{model}]"
                pool = (
                    items
                    if method == "budget_forcing" or compare_ids is None
                    else [i for i in items if i.id in compare_ids]
                )
                for point, k in (
                    (p, k) for p in sweep_points(method, ev) for k in range(ev.samples_per_question)
                ):
                    wanted |= {_key(label, point, it.id, k) for it in pool}
                    todo = [it for it in pool if _key(label, point, it.id, k) not in done]
                    if not todo:
                        continue
                    if model not in engines:
                        for other in (
                            engines.values()
                        ):  # one model in memory at a time (a vLLM engine holds its KV cache)
                            other[0].close()
                        engines.clear()
                        engines[model] = build_engine(
                            model_args.for_model(model), fmt, backend, ev.batch_size
                        )
                    engine, tok = engines[model]
                    which = f" #{k}" if ev.samples_per_question > 1 else ""
                    bar = tqdm(total=len(todo), desc=f"{label} @ {point}{which}", unit="q")
                    right = [0]

                    def on_result(sample, bar=bar, right=right, label=label, k=k):
                        # Written as each sample finishes: an interrupted point resumes where it stopped.
                        sample["label"], sample["sample"] = label, k
                        sink.write(sample)
                        samples.append(sample)
                        right[0] += sample["correct"]
                        bar.update(1)
                        bar.set_postfix(acc=f"{right[0] / bar.n:.1%}")

                    if cap is None:  # `auto` is measured on this benchmark's prompts, as s1 does
                        cap = wait_cap(ev, [it.question for it in items], tok, fmt, context_of(backend))
                        if ev.wait_max_thinking == "auto":
                            print(f"wait_max_thinking auto: {cap} thinking tokens on {bench.benchmark}")
                    ctx = Context(
                        engine=engine, tokenizer=tok, fmt=fmt, budgets=ev.budgets,
                        max_answer_tokens=ev.max_answer_tokens, wait_max_thinking=cap,
                        unforced_max_thinking=ev.unforced_max_thinking, tokens_per_step=ev.tokens_per_step,
                        sample_temperature=ev.sample_temperature, max_tries=ev.max_tries,
                        seed=ev.seed + 1_000_003 * k, on_result=on_result, temperature=ev.temperature,
                        ignore_strings=tuple(ev.wait_ignore_strings), context=context_of(backend),
                    )  # fmt: skip
                    METHODS[method](ctx, todo, point)
                    bar.close()
        for engine, _ in engines.values():
            engine.close()

        title = f"{model_args.model} on {bench.benchmark} ({len(items)} questions)"
        metrics = method_metrics(
            [s for s in samples if _key(s["label"], s["budget"], s["id"], s.get("sample", 0)) in wanted],
            ev.budgets,
        )
        atomic_write_json(out / "metrics.json", {"title": title, "source": benchmark_source(bench), "methods": metrics,
                                                 "provenance": provenance()})  # fmt: skip
        atomic_write_text(out / "summary.md", summary_markdown(metrics, title))
        scaling_plot(metrics, out / "scaling.png", title)
        write_report(out)  # report.html: the traces, forced tokens marked (thinkscale view)
        print(summary_markdown(metrics, title))
        print(f"written: {out}")
        return out, metrics


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
