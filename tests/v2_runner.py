"""Model Runner V2's sampler loop around a custom logits processor, as vLLM 0.32 drives one (read from
`vllm/v1/worker/gpu/model_runner.py`, `states.py`, `sample/sampler.py`,
`sample/logits_processor/interface.py`, `v1/engine/input_processor.py`, `parallel_sampling.py`), in
its worst legal orders.

What it reproduces of V2, because the processor depends on it:
- admission: the processor's `validate_params` runs on the caller's params in the frontend, then the
  request is copied (`process_inputs`: validate, then clone); `n > 1` fans out into child requests
  whose params are shallow copies, seeded `seed + i` where the parent has a seed;
- a request gets a slot from a last-in-first-out free list (`free_indices.pop()` / `append`), so a
  request admitted after another has left lands in *that* request's slot; `req_states` holds its
  prompt length, prefill length and committed tokens before `add_request(slot, params)`, then
  `apply_staged_writes()` runs once for the step; a finished, preempted or aborted request's slot is
  freed without telling the processor, its state left behind;
- a preempted request waits: it comes back only after another request has left (V2 resumes a request
  when blocks are freed), so it takes that request's slot, with new params objects and `prefill_len` =
  prompt + its committed output, re-prefilled in two chunks; a preemption may come during the first
  prefill chunk (output 0) or right after a forced token;
- every step the rows are ordered anew (a random permutation here), `LogitsContext.idx_mapping_np`
  maps row -> slot, `seq_lens_upper_bound_np` is each row's sequence length, `input_ids` the token
  fed at the row's last position; `apply(logits, ctx)` sees unscaled float32 logits, and the
  engine's own sampler (`tests.scripted.engine_sample`) then draws;
- a prefill runs in two chunks: the first chunk's sample is thrown away (V2's `num_sampled` is 0 for
  a request still prefilling);
- background requests (`noise`) with the same budgets share the batch and leave early (a client's abort
  or stop string), their states left in their slots;
- async scheduling (`async_scheduling=True`): a request that finished is scheduled once more before the
  engine sees it finished; that step's sample is thrown away.

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
                 max_num_reqs: int = 16, max_model_len: int = 4096, preempt_at: dict | None = None, seed: int = 0,
                 noise: list | None = None, async_scheduling: bool = False, engine_seed: int = 0):  # fmt: skip
        from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcRequestState

        self.script, self.prompt_len, self.vocab_size = script, prompt_len, vocab_size
        self.all_token_ids = _Buffer(max_num_reqs, max_model_len)
        self.prompt_lens, self.prefill_lens, self.total_len = (_Buffer(max_num_reqs) for _ in range(3))
        state = LogitsProcRequestState(
            device=torch.device("cpu"), max_num_reqs=max_num_reqs, vocab_size=vocab_size,
            all_token_ids=self.all_token_ids, prompt_len=self.prompt_lens, prefill_len=self.prefill_lens,
            total_len=self.total_len,
        )  # fmt: skip
        model_config = SimpleNamespace(tokenizer=model_dir, model=model_dir, max_model_len=max_model_len,
                                       seed=engine_seed)  # fmt: skip
        scheduler_config = SimpleNamespace(async_scheduling=async_scheduling, max_num_seqs=max_num_reqs)
        self.processor_cls = processor_cls
        self.processor = processor_cls(
            SimpleNamespace(model_config=model_config, speculative_config=None, scheduler_config=scheduler_config),
            state,
        )  # fmt: skip
        self.free = list(range(max_num_reqs))
        random.Random(seed).shuffle(self.free)
        self.rng = random.Random(seed)
        # request -> output lengths at which it is preempted (0: during its first prefill chunk)
        self.preempt_at = {
            i: sorted(v if isinstance(v, list | tuple) else [v]) for i, v in (preempt_at or {}).items()
        }
        self.noise = list(noise or [])  # (prompt ids, params, output length at which it leaves)
        self.async_scheduling = async_scheduling
        self.steps, self.adds, self.resumed_in_other_slot = 0, 0, 0

    def _admit(self, r: dict) -> dict:
        slot = self.free.pop()  # last in, first out: the slot freed last
        if r.get("slot") is not None and slot != r["slot"]:
            self.resumed_in_other_slot += 1
        tokens = r["prompt"] + r["out"]
        self.prompt_lens.np[slot], self.prefill_lens.np[slot] = len(r["prompt"]), len(tokens)
        self.all_token_ids.gpu[slot, : len(tokens)] = torch.tensor(tokens, dtype=torch.int32)
        self.total_len.np[slot] = len(tokens)
        self.adds += 1
        self.processor.add_request(slot, copy.deepcopy(r["params"]))  # V2 deserialises new params objects
        # two prefill chunks: the first ends one token early, and its sample is thrown away
        r.update(slot=slot, chunks=[len(tokens) - 1, len(tokens)], zombie=False)
        return r

    def _children(self, i: int, prompt: list[int], params) -> list[dict]:
        """The requests one prompt becomes: admission (validate, then clone), then the n-way fan-out."""
        self.processor_cls.validate_params(params)  # the frontend's check, on the caller's object
        params = copy.deepcopy(params)
        n = getattr(params, "n", 1) or 1
        out = []
        for k in range(n):
            child = copy.copy(params)  # ParentRequest._get_child_sampling_params
            if n > 1 and params.seed is not None:
                child.seed = params.seed + k
            child.n = 1
            gen = torch.Generator().manual_seed(
                child.seed if child.seed is not None else self.rng.getrandbits(31)
            )
            out.append({"i": i, "k": k, "prompt": list(prompt), "out": [], "params": child, "gen": gen})
        return out

    def generate(self, prompts, sampling_params, use_tqdm=True):
        outputs: list = [None] * len(prompts)
        done_by: dict = {}
        queue = [
            c
            for i, p in enumerate(prompts)
            for c in self._children(i, list(p["prompt_token_ids"]), sampling_params[i])
        ]
        for j, (prompt, params, leave_at) in enumerate(self.noise):
            for c in self._children(-1 - j, prompt, params):
                c["leave_at"] = leave_at
                queue.append(c)
        self.rng.shuffle(queue)
        live = [self._admit(r) for r in queue]
        waiting: list[dict] = []
        self.processor.apply_staged_writes()
        while live or waiting:
            if not live:  # (cannot happen with other requests around; a lone preempted request resumes)
                live.append(self._admit(waiting.pop(0)))
                self.processor.apply_staged_writes()
            self.rng.shuffle(live)  # V2 orders the rows anew every step
            seq_lens = [r["chunks"][0] if r["chunks"] else len(r["prompt"]) + len(r["out"]) for r in live]
            tokens = [r["prompt"] + r["out"] for r in live]
            logits = torch.stack(
                [
                    self._logits(len(r["prompt"]), n - len(r["prompt"]))
                    for r, n in zip(live, seq_lens, strict=True)
                ]
            )
            ctx = self._context(live, seq_lens, tokens)
            processed = self.processor.apply(logits, ctx)
            self.steps += 1
            leaving, preempted = [], []
            for row, r in enumerate(live):
                if r[
                    "zombie"
                ]:  # async scheduling: scheduled once more after finishing; the sample is dropped
                    leaving.append(r)
                    continue
                if r["chunks"]:
                    r["chunks"].pop(0)
                    if r["chunks"]:
                        if 0 in self.preempt_at.get(r["i"], ()) and not r["out"] and r["i"] >= 0:
                            self.preempt_at[r["i"]].remove(0)  # preempted during its first prefill chunk
                            preempted.append(r)
                        continue  # a partial prefill: the sample is thrown away
                p = r["params"]
                token = int(engine_sample(processed[row : row + 1], p.temperature, p.top_p, r["gen"])[0])
                r["out"].append(token)
                self.all_token_ids.gpu[r["slot"], self.total_len.np[r["slot"]]] = token
                self.total_len.np[r["slot"]] += 1
                if token in p.stop_token_ids or len(r["out"]) >= p.max_tokens:
                    if r["i"] >= 0:
                        done_by[(r["i"], r["k"])] = list(r["out"])
                    if self.async_scheduling:
                        r["zombie"] = True
                    else:
                        leaving.append(r)
                elif r.get("leave_at") == len(r["out"]):
                    leaving.append(r)  # aborted, or ended by a client's stop string: its slot is stale
                elif len(r["out"]) in self.preempt_at.get(r["i"], ()):
                    self.preempt_at[r["i"]].remove(len(r["out"]))
                    preempted.append(r)
            # finish_requests: finished and preempted slots freed in request order, the processor not told
            for r in sorted(leaving + preempted, key=lambda r: (r["i"], r["k"])):
                self.free.append(r["slot"])
                live.remove(r)
            # a preempted request resumes only once another has left (freed blocks), in the slot on top
            resumed = []
            if leaving and waiting:
                resumed = [self._admit(waiting.pop(0)) for _ in range(min(len(leaving), len(waiting)))]
            waiting.extend(preempted)
            live.extend(resumed)
            if resumed:
                self.processor.apply_staged_writes()
        for i in range(len(prompts)):
            n = getattr(sampling_params[i], "n", 1) or 1
            outputs[i] = SimpleNamespace(
                outputs=[SimpleNamespace(token_ids=done_by[(i, k)]) for k in range(n)]
            )
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
