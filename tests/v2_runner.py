"""Model Runner V2's sampler loop around a custom logits processor, as vLLM 0.32 drives one (read from
`vllm/v1/worker/gpu/model_runner.py`, `sample/sampler.py`, `sample/logits_processor/interface.py`).

What it reproduces of V2, because the processor depends on it:
- a request gets a slot from a free list (slots are reused); `req_states` holds its prompt length,
  prefill length and committed tokens (`all_token_ids`, `total_len`) before `add_request(slot, params)`,
  then `apply_staged_writes()` runs once for the step; a finished or preempted request's slot is
  freed without telling the processor;
- every step the rows are ordered anew (a random permutation here), `LogitsContext.idx_mapping_np`
  maps row -> slot, `seq_lens_upper_bound_np` is each row's sequence length, `input_ids` the token
  fed at the row's last position; `apply(logits, ctx)` sees unscaled float32 logits, and the
  engine's own sampler (`tests.scripted.engine_sample`) then draws;
- a prefill runs in two chunks: the first chunk's sample is thrown away (V2's `num_sampled` is 0 for
  a request still prefilling); a preempted request comes back in a new slot with new params and
  `prefill_len` = prompt + its committed output, re-prefilled in two chunks.

The logits come from a token script, as in `tests.scripted`, so results can be compared with the
HF engine's.
"""

from __future__ import annotations

import copy
import random
from types import SimpleNamespace

import numpy as np
import torch

from tests.scripted import _at, engine_sample


class _Buffer:
    """A `StagedWriteTensor` / `UvaBackedTensor` as processors see it: `.gpu` (device) and `.np` (host)."""

    def __init__(self, *shape):
        self.gpu = torch.zeros(*shape, dtype=torch.int32)
        self.np = self.gpu.numpy()  # on the CPU the two views share memory


class V2Runner:
    """An `LLM.generate` stand-in that runs the real processor class through V2's interface."""

    def __init__(self, processor_cls, model_dir: str, script: list[int], prompt_len: int, vocab_size: int,
                 max_num_reqs: int = 16, max_model_len: int = 4096, preempt_at: dict | None = None, seed: int = 0):  # fmt: skip
        from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcRequestState

        self.script, self.prompt_len, self.vocab_size = script, prompt_len, vocab_size
        self.all_token_ids = _Buffer(max_num_reqs, max_model_len)
        self.prompt_lens, self.prefill_lens, self.total_len = (_Buffer(max_num_reqs) for _ in range(3))
        state = LogitsProcRequestState(
            device=torch.device("cpu"), max_num_reqs=max_num_reqs, vocab_size=vocab_size,
            all_token_ids=self.all_token_ids, prompt_len=self.prompt_lens, prefill_len=self.prefill_lens,
            total_len=self.total_len,
        )  # fmt: skip
        model_config = SimpleNamespace(tokenizer=model_dir, model=model_dir, max_model_len=max_model_len)
        self.processor = processor_cls(SimpleNamespace(model_config=model_config, speculative_config=None), state)
        self.free = list(range(max_num_reqs))
        random.Random(seed).shuffle(self.free)
        self.rng = random.Random(seed)
        self.preempt_at = dict(preempt_at or {})  # request -> output length at which it is preempted once
        self.steps, self.adds = 0, 0

    def _admit(self, i: int, prompt: list[int], out: list[int], params) -> dict:
        slot = self.free.pop()
        tokens = prompt + out
        self.prompt_lens.np[slot], self.prefill_lens.np[slot] = len(prompt), len(tokens)
        self.all_token_ids.gpu[slot, : len(tokens)] = torch.tensor(tokens, dtype=torch.int32)
        self.total_len.np[slot] = len(tokens)
        self.adds += 1
        self.processor.add_request(slot, copy.deepcopy(params))  # V2 deserialises new params objects
        # two prefill chunks: the first ends one token early, and its sample is thrown away
        return {"i": i, "slot": slot, "prompt": prompt, "out": out, "params": params, "chunks": [len(tokens) - 1, len(tokens)]}

    def generate(self, prompts, sampling_params, use_tqdm=True):
        outputs: list = [None] * len(prompts)
        gens = [torch.Generator().manual_seed(p.seed or 0) for p in sampling_params]
        live = [self._admit(i, list(p["prompt_token_ids"]), [], sampling_params[i]) for i, p in enumerate(prompts)]
        self.processor.apply_staged_writes()
        while live:
            self.rng.shuffle(live)  # V2 orders the rows anew every step
            seq_lens = [r["chunks"][0] if r["chunks"] else len(r["prompt"]) + len(r["out"]) for r in live]
            tokens = [r["prompt"] + r["out"] for r in live]
            logits = torch.stack([self._logits(len(r["prompt"]), n - len(r["prompt"])) for r, n in zip(live, seq_lens, strict=True)])
            ctx = self._context(live, seq_lens, tokens)
            processed = self.processor.apply(logits, ctx)
            self.steps += 1
            done, readmit = [], []
            for row, r in enumerate(live):
                if r["chunks"]:
                    r["chunks"].pop(0)
                    if r["chunks"]:
                        continue  # a partial prefill: the sample is thrown away
                p = r["params"]
                token = int(engine_sample(processed[row : row + 1], p.temperature, p.top_p, gens[r["i"]])[0])
                r["out"].append(token)
                self.all_token_ids.gpu[r["slot"], self.total_len.np[r["slot"]]] = token
                self.total_len.np[r["slot"]] += 1
                if token in p.stop_token_ids or len(r["out"]) >= p.max_tokens:
                    outputs[r["i"]] = SimpleNamespace(outputs=[SimpleNamespace(token_ids=list(r["out"]))])
                    done.append(r)
                elif self.preempt_at.get(r["i"]) == len(r["out"]):
                    del self.preempt_at[r["i"]]
                    done.append(r)
                    readmit.append(r)
            for r in done:  # the slot is freed; the processor is not told
                self.free.append(r["slot"])
                live.remove(r)
            for r in readmit:
                live.append(self._admit(r["i"], r["prompt"], r["out"], r["params"]))
            if readmit:
                self.processor.apply_staged_writes()
        return outputs

    def _logits(self, prompt_len: int, n_out: int) -> torch.Tensor:
        row = torch.zeros(self.vocab_size)
        row[_at(self.script, prompt_len + n_out - self.prompt_len)] = 1.0
        return row

    def _context(self, live, seq_lens, tokens):
        from vllm.v1.worker.gpu.sample.logits_processor import LogitsContext

        slots = np.array([r["slot"] for r in live], dtype=np.int32)
        idx = torch.from_numpy(slots.astype(np.int64))
        fed = torch.tensor([t[n - 1] for t, n in zip(tokens, seq_lens, strict=True)])
        return LogitsContext(
            expanded_idx_mapping=idx, idx_mapping=idx, idx_mapping_np=slots,
            expanded_local_pos=torch.zeros(len(live), dtype=torch.int64), input_ids=fed,
            pos=torch.tensor(seq_lens) - 1, seq_lens_upper_bound_np=np.array(seq_lens, dtype=np.int32),
        )  # fmt: skip
