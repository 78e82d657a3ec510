"""The batched tensor operations behind budget forcing in a sampler (`inference.forcing.batch`).

Each operation takes every row of its kind at once, so one step launches the same few torch
operations whatever the batch size, and none copies a logits row to the host:

- `force`: a queued token (an ignore string, the delimiter, the final-answer prefix) gets a logit
  of FORCED_LOGIT, one indexed write per row; every sampler, greedy or not, then picks it.
- `ban`: the stop tokens right after an ignore string get -inf (s1's `min_tokens=1`).
- `merge`: a stop the rules would replace is folded into its replacement, in a few logits, so the
  engine's own sampler draws the replaced distribution exactly: greedy, the replacement takes the
  larger logit; at temperature T with top-p 1, it takes T·logsumexp of both, which gives it their
  summed probability. Whether the draw came from the stop is recorded per row (`flags`): greedy, by
  the logits; sampled, by a uniform against the stop's share. (Under top-p < 1 a merge would move
  the nucleus, so those rows are drawn here instead.)
- `Upload`: a step's indices and settings, sent to the device in one transfer.
- `draw`: rows the rules must sample themselves — one batched temperature / top-p draw (softmax,
  the nucleus as `inference.hf.sampling.sample_row` keeps it, found among the top tokens or by one
  sort, an inverse-CDF pick), then the same stop replacement and flag as `merge`, and the chosen
  token forced.

Randomness is counter-based: a request's uniform for output position n is a hash of (seed, n)
(`uniforms`), computed on the logits' device for all rows at once. A draw is therefore the same
wherever and however often it is made (a thrown-away chunked-prefill step draws the same again),
and seeded runs reproduce on every backend without generator state to save or restore.

Run: imported by `inference.forcing.batch`; tested through it in tests/test_forcing.py (the law, the op count)
and tests/test_processor_v2.py.
"""

from __future__ import annotations

import torch

# vLLM's own forced token (its thinking budget on Model Runner V2) uses 1e9: finite, so temperature,
# softmax and sorting stay free of inf - inf, and far above any real logit.
FORCED_LOGIT = 1.0e9
_MASK53 = (1 << 53) - 1
_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15 as a signed int64


def _shift(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def uniforms(seeds: torch.Tensor, positions: torch.Tensor, stream: int = 0) -> torch.Tensor:
    """One uniform in [0, 1) per row from (seed, position, stream): splitmix64's mixer on int64
    (products wrap modulo 2^64), 53 bits kept. float64, on the tensors' device."""
    x = seeds.to(torch.int64) * _GOLDEN + positions.to(torch.int64) * 0x632BE5AB + stream * 0x2545F491
    for shift, mult in ((30, -4658895280553007687), (27, -7723592293110705685)):
        x = (x ^ _shift(x, shift)) * mult
    x = x ^ _shift(x, 31)
    return (_shift(x, 11) & _MASK53).to(torch.float64) / float(1 << 53)


def force(logits: torch.Tensor, rows: torch.Tensor, tokens: torch.Tensor) -> None:
    """Make `tokens[i]` the only choice of row `rows[i]` (one indexed write)."""
    if rows.numel():
        logits.index_put_(
            (rows, tokens), torch.tensor(FORCED_LOGIT, dtype=logits.dtype, device=logits.device)
        )


def ban(logits: torch.Tensor, rows: torch.Tensor, ids: torch.Tensor) -> None:
    """-inf at `ids` (a [m, w] table padded with -1) in rows `rows`."""
    if not rows.numel():
        return
    keep = ids >= 0
    r = rows[:, None].expand_as(ids)[keep]
    logits.index_put_((r, ids[keep]), torch.tensor(float("-inf"), dtype=logits.dtype, device=logits.device))


def merge(logits, rows, src, target, temperature, seeds, positions) -> torch.Tensor:
    """Fold the stops `src` ([m, w], -1 padded) of each row into its `target`; return the flags
    (True: the draw, if it is the target, stands for a stop). Greedy rows (T = 0) or top-p 1 only."""
    if not rows.numel():
        return torch.zeros(0, dtype=torch.bool, device=logits.device)
    greedy = temperature == 0
    t = torch.where(greedy, torch.ones_like(temperature), temperature)  # greedy rows compare raw logits
    src_logits = logits[rows[:, None], src.clamp(min=0)].masked_fill(src < 0, float("-inf")) / t[:, None]
    tgt_logits = logits[rows, target][:, None] / t[:, None]
    src_max = src_logits.max(-1).values
    both = torch.logsumexp(torch.cat([src_logits, tgt_logits], -1), -1)
    merged = torch.where(greedy, torch.maximum(src_max, tgt_logits[:, 0]), both) * t
    share = torch.sigmoid(torch.logsumexp(src_logits, -1) - tgt_logits[:, 0])  # P(stop | stop or target)
    drawn = uniforms(seeds, positions, stream=1) < share.to(torch.float64)
    flags = torch.where(greedy, src_max > tgt_logits[:, 0], drawn)
    logits[rows, target] = merged.to(logits.dtype)
    ban(logits, rows, src)
    return flags


TOPK_FAST = 1024  # the nucleus is looked for among the top tokens first: a model's usually lies there


def nucleus_draw(logits: torch.Tensor, temperatures: list[float], top_ps: list[float], seeds, positions,
                 stream: int = 0) -> torch.Tensor:  # fmt: skip
    """One token per row of `logits` ([m, V]): argmax where T = 0, else temperature then top-p (the
    smallest prefix by probability whose mass reaches top_p; the first token always stays), picked
    by inverse CDF with the row's uniform for its (seed, position).

    The prefix is found without sorting the vocabulary when the top TOPK_FAST tokens of every row
    already hold top_p of its mass (then the prefix lies inside them: one small transfer says so);
    else by one full sort. At top-p 1 nothing is sorted (the inverse CDF needs no order). The
    settings come as host lists, so what to compute is known without reading the device."""
    temperature = torch.tensor(temperatures, dtype=torch.float32, device=logits.device)
    top_p = torch.tensor(top_ps, dtype=torch.float32, device=logits.device)
    greedy = temperature == 0
    t = torch.where(greedy, torch.ones_like(temperature), temperature)[:, None]
    probs = torch.softmax(logits.float() / t, dim=-1)
    if min(top_ps) >= 1:
        ordered, order = probs, None
    else:
        ordered, order = probs.topk(min(TOPK_FAST, probs.shape[-1]), dim=-1)
        if not bool((ordered.sum(-1) >= top_p).all()):
            ordered, order = probs.sort(dim=-1, descending=True)
    cum = ordered.cumsum(-1)
    kept = torch.where(
        top_p[:, None] >= 1, cum.shape[-1], ((cum - ordered) < top_p[:, None]).sum(-1, keepdim=True)
    )
    mass = cum.gather(-1, kept - 1)
    u = (uniforms(seeds, positions, stream) * mass[:, 0].to(torch.float64)).to(cum.dtype)[:, None]
    # past the kept prefix only by rounding: the last kept token then
    pick = torch.minimum(torch.searchsorted(cum, u, right=True), kept - 1)
    sampled = (pick if order is None else order.gather(-1, pick))[:, 0]
    return torch.where(greedy, logits.argmax(-1), sampled) if 0 in temperatures else sampled


def draw(logits, rows, src, target, temperatures, top_ps, seeds, positions, every_row=False,
         redraw: list[bool] | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Sample rows `rows` here (`nucleus_draw`), replace a drawn stop of `src` by `target` and force
    the result; return the forced tokens and the flags (as `merge`'s). `every_row`: `rows` is every
    row in order (no copy is taken). `redraw[i]`: row i's replacement is a second draw with the stops
    excluded (an empty ignore string: s1 drops the stop and samples again)."""
    rows_logits = logits if every_row else logits[rows]
    t = nucleus_draw(rows_logits, temperatures, top_ps, seeds, positions)
    flags = (t[:, None] == src).any(-1)
    emitted = torch.where(flags, target, t)
    if redraw and any(redraw):
        masked = rows_logits.clone()
        ban(masked, torch.arange(len(temperatures), device=logits.device), src)
        again = nucleus_draw(masked, temperatures, top_ps, seeds, positions, stream=2)
        emitted = torch.where(flags & torch.tensor(redraw, device=logits.device), again, emitted)
    force(logits, rows, emitted)
    return emitted, flags


class Upload:
    """A step's host lists (ints, floats, -1-padded tables), sent to the device as one int64 tensor."""

    def __init__(self):
        self.parts: list[tuple[list[int], tuple[int, ...], bool]] = []

    def add(self, values: list) -> int:
        floats = bool(values) and isinstance(values[0], float)
        flat = (
            torch.tensor(values, dtype=torch.float64).view(torch.int64).tolist() if floats else list(values)
        )
        self.parts.append((flat, (len(values),), floats))
        return len(self.parts) - 1

    def table(self, lists: list[list[int]]) -> int:
        width = max(1, max(len(x) for x in lists))
        self.parts.append(
            ([v for x in lists for v in x + [-1] * (width - len(x))], (len(lists), width), False)
        )
        return len(self.parts) - 1

    def send(self, device) -> list[torch.Tensor]:
        if not self.parts:
            return []
        flat = torch.tensor([v for values, _, _ in self.parts for v in values], dtype=torch.int64)
        if device.type != "cpu":
            flat = flat.pin_memory().to(device, non_blocking=True)
        out, at = [], 0
        for values, shape, floats in self.parts:
            part = flat[at : at + len(values)].view(shape)
            out.append(part.view(torch.float64).float() if floats else part)
            at += len(values)
        return out
