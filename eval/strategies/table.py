"""The strategy dispatch table and the settings grid a recipe asks for.

    for name, setting in settings(args): records = STRATEGIES[name](ctx, items, setting)

Each strategy takes (ctx, items, setting) and returns one record per question and label (sampling
strategies return several labels, maj@1..maj@N, from one sample set). A record holds the answer,
whether it is right, and the question's Compute.
"""

from __future__ import annotations

from collections.abc import Callable

from thinkscale.eval.strategies import deepconf, parallel, search, sequential

STRATEGIES: dict[str, Callable] = {
    "budget_forcing": sequential.budget_forcing,
    "majority": parallel.majority,
    "best_of_n": parallel.best_of_n,
    "sequential_vote": sequential.sequential_vote,
    "adaptive_vote": sequential.adaptive_vote,
    "beam_search": search.beam_search,
    "rebase": search.rebase,
    "deepconf": deepconf.deepconf,
    "deepconf_online": deepconf.deepconf_online,
}


def settings(args) -> list[tuple[str, dict]]:
    """(strategy, setting) pairs for every strategy in `args.strategies`, in order."""
    grid = {
        "budget_forcing": [{"budget": b} for b in args.bf_budgets],
        "majority": [{}],
        "best_of_n": [{}],
        "sequential_vote": [{"trials": k, "agree": args.sv_agree} for k in args.sv_trials],
        "adaptive_vote": [{"trials": max(args.sv_trials), "agree": args.sv_agree, "judge": j} for j in args.asv_judges],
        "beam_search": [{"n": n, "width": args.beam_width, "agg": args.beam_agg, "lookahead": args.lookahead}
                        for n in args.beam_n],
        "rebase": [{"width": w, "temperature": args.rebase_temperature} for w in args.rebase_width],
        "deepconf": [{"eta": e, "measure": args.deepconf_measure} for e in args.deepconf_etas],
        "deepconf_online": [{"eta": e, "warmup": args.deepconf_warmup, "budget": args.samples,
                             "consensus": args.deepconf_consensus} for e in args.deepconf_etas],
    }  # fmt: skip
    return [(name, s) for name in args.strategies for s in grid[name]]


def setting_key(name: str, setting: dict) -> str:
    return name + "".join(f" {k}={v}" for k, v in sorted(setting.items()))
