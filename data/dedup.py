"""Exact and near-duplicate questions: normalised-text matching plus MinHash LSH.

    kept, dropped = deduplicate(rows, threshold=0.8)   # dropped: {row id: id of the row it duplicates}

Exact duplicates are equal after `data.text.normalise` (case, punctuation, spacing). Near duplicates
have word-trigram Jaccard similarity >= `threshold` *and the same numbers in the same order*: a
template with other numbers is another problem (the built-in pool is all templates), while a
paraphrase or a re-typeset copy of a problem keeps its numbers. Candidates come from MinHash LSH
(64 permutations, 16 bands of 4) bucketed by the number signature, then the exact Jaccard decides, so
the result does not depend on hash luck beyond LSH recall. The first occurrence is kept. Hashes are
crc32 (stable across processes), so runs are reproducible.
"""

from __future__ import annotations

import zlib
from collections import defaultdict

import numpy as np

from thinkscale.common.errors import ConfigError
from thinkscale.data.text import ngrams, normalise, numbers, words

NUM_PERM, BANDS = 64, 16
_PRIME = np.uint64((1 << 61) - 1)
# Fixed permutations: a signature must mean the same thing in every run.
_A, _B = np.random.default_rng(20250131).integers(1, 1 << 31, (2, NUM_PERM), dtype=np.uint64)


def shingles(text: str) -> set[str]:
    return ngrams(words(text), 3)


def minhash(sh: set[str]) -> np.ndarray:
    """A 64-value MinHash signature of a shingle set (all-max for an empty set)."""
    if not sh:
        return np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    h = np.fromiter((zlib.crc32(s.encode()) for s in sh), dtype=np.uint64, count=len(sh))
    return ((_A[:, None] * h[None, :] + _B[:, None]) % _PRIME).min(axis=1)


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def deduplicate(rows: list[dict], threshold: float = 0.8) -> tuple[list[dict], dict[str, str]]:
    """Keep the first of each group of exact or near-duplicate questions."""
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"--near-dup-threshold must be in (0, 1], got {threshold}")
    exact: dict[str, str] = {}
    buckets: dict[tuple, list[int]] = defaultdict(list)
    kept: list[dict] = []
    kept_sh: list[set[str]] = []
    dropped: dict[str, str] = {}
    rows_per_band = NUM_PERM // BANDS
    for row in rows:
        q = row["question"]
        key = normalise(q)
        if key in exact:
            dropped[row["id"]] = exact[key]
            continue
        sh, nums = shingles(q), numbers(q)
        sig = minhash(sh)
        bands = [(b, nums, sig[b * rows_per_band : (b + 1) * rows_per_band].tobytes()) for b in range(BANDS)]
        candidates = {i for band in bands for i in buckets.get(band, ())}
        match = next((i for i in sorted(candidates) if jaccard(sh, kept_sh[i]) >= threshold), None)
        if match is not None:
            dropped[row["id"]] = kept[match]["id"]
            continue
        exact[key] = row["id"]
        for band in bands:
            buckets[band].append(len(kept))
        kept.append(row)
        kept_sh.append(sh)
    return kept, dropped
