"""A KV cache for transformers models that grows by doubling and can drop finished rows.

transformers' DynamicLayer appends each step's keys with `torch.cat`, copying the whole cache every
token (quadratic in length); this layer writes into a preallocated buffer and doubles it when
full, so a step costs one small copy. `batch_select_indices` (dropping finished sequences from the
batch) is inherited in spirit: it slices the buffers to the rows that remain.

    cache = GrowingCache()
    model(input_ids, past_key_values=cache, use_cache=True)
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicLayer


class GrowingLayer(DynamicLayer):
    """One attention layer's keys and values, [batch, heads, length, head_dim], in a doubling buffer."""

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self._len = 0

    def _grow(self, needed: int, like_k: torch.Tensor, like_v: torch.Tensor) -> None:
        capacity = 0 if self._k is None else self._k.shape[-2]
        if needed <= capacity:
            return
        new_cap = max(64, capacity * 2, needed)
        b, h, _, d = like_k.shape
        k = like_k.new_empty(b, h, new_cap, d)
        v = like_v.new_empty(b, like_v.shape[1], new_cap, like_v.shape[-1])
        if self._len:
            k[:, :, : self._len] = self._k[:, :, : self._len]
            v[:, :, : self._len] = self._v[:, :, : self._len]
        self._k, self._v = k, v

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n = key_states.shape[-2]
        self._grow(self._len + n, key_states, value_states)
        self._k[:, :, self._len : self._len + n] = key_states
        self._v[:, :, self._len : self._len + n] = value_states
        self._len += n
        self.keys = self._k[:, :, : self._len]
        self.values = self._v[:, :, : self._len]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized and self._k is not None:
            self._k = self._k[indices]
            self._v = self._v[indices]
            self.keys = self._k[:, :, : self._len]
            self.values = self._v[:, :, : self._len]


class GrowingCache(Cache):
    """A cache of GrowingLayer, one per attention layer, created lazily as layers are called."""

    def __init__(self) -> None:
        super().__init__(layer_class_to_replicate=GrowingLayer)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        for layer in self.layers:
            layer.batch_select_indices(indices)
