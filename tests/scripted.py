"""Test doubles that follow a fixed token script: an HF-style causal LM and a vLLM-style `LLM`.

`script[j]` is the token the model predicts as the j-th token after a prompt of `prompt_len`
tokens (the last entry repeats). Both doubles read the same script, so the HF engine and the vLLM
engine must produce identical results from them under greedy decoding.
"""

from types import SimpleNamespace

import torch


def _at(script: list[int], j: int) -> int:
    return script[min(max(j, 0), len(script) - 1)]


class ScriptedLM(torch.nn.Module):
    def __init__(self, script: list[int], prompt_len: int, vocab_size: int):
        super().__init__()
        self.script, self.prompt_len, self.vocab_size = script, prompt_len, vocab_size
        self.config = SimpleNamespace(max_position_embeddings=4096, eos_token_id=None)
        self.generation_config = SimpleNamespace(eos_token_id=None)
        self.device = torch.device("cpu")

    def forward(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, **_):
        logits = torch.zeros(input_ids.shape[0], 1, self.vocab_size)
        for row, pos in enumerate(position_ids[:, -1].tolist()):
            logits[row, 0, _at(self.script, pos + 1 - self.prompt_len)] = 1.0
        return SimpleNamespace(logits=logits)


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class FakeLLM:
    """vLLM's `LLM.generate` surface: stop ids are kept in token_ids and reported in stop_reason."""

    def __init__(self, script: list[int], prompt_len: int):
        self.script, self.prompt_len, self.calls = script, prompt_len, []

    def generate(self, prompts, sampling_params, use_tqdm=True):
        outputs = []
        for prompt, params in zip(prompts, sampling_params, strict=True):
            self.calls.append((list(prompt["prompt_token_ids"]), params))
            ids, finish, stop = [], "length", None
            while len(ids) < params.max_tokens:
                token = _at(self.script, len(prompt["prompt_token_ids"]) + len(ids) - self.prompt_len)
                if len(ids) < getattr(params, "min_tokens", 0) and token in params.stop_token_ids:
                    # vLLM's min_tokens masks the stop ids: the argmax of the scripted logits' rest
                    token = next(
                        t for t in range(len(params.stop_token_ids) + 1) if t not in params.stop_token_ids
                    )
                ids.append(token)
                if token in params.stop_token_ids:
                    finish, stop = "stop", token
                    break
            outputs.append(
                SimpleNamespace(
                    outputs=[SimpleNamespace(token_ids=ids, finish_reason=finish, stop_reason=stop)]
                )
            )
        return outputs


def count_generate_calls(monkeypatch) -> list[int]:
    """Record how many requests each HFEngine.generate call gets (the engine still runs)."""
    from thinkscale.inference.hf.engine import HFEngine

    asked: list[int] = []
    original = HFEngine.generate

    def counting(self, reqs, on_result=None):
        asked.append(len(reqs))
        return original(self, reqs, on_result)

    monkeypatch.setattr(HFEngine, "generate", counting)
    return asked


def engine_sample(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator
) -> torch.Tensor:
    """What vLLM's sampler does after the logits processors, for every row: argmax at temperature 0,
    else temperature, top-p (vLLM's rule: drop the tokens whose ascending cumulative mass is at most
    1 - top_p) and an exponential race (vLLM's `random_sample`)."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, -1)
    if top_p < 1:
        ascending, order = probs.sort(-1)
        drop = ascending.cumsum(-1) <= 1 - top_p
        drop[:, -1] = False
        probs = probs.scatter(-1, order, ascending.masked_fill(drop, 0.0))
    race = torch.empty_like(probs).exponential_(generator=generator)
    return (probs / race).argmax(-1)


class FakeSamplerLLM:
    """vLLM's engine loop around the budget-forcing processor core (`inference.forcing.batch.ForcingBatch`):
    all requests in one batch, one token per request per step from the script's logits, the
    processor's `apply` between the logits and the engine's own choice (`engine_sample`, from a
    generator per request seeded by its seed), stop ids and max_tokens ending a
    request, and a finished request's row refilled by the last row as vLLM condenses its batch. Each
    request's first step is sampled twice and the first sample thrown away, as a chunked prefill does."""

    def __init__(self, script: list[int], prompt_len: int, tokenizer, fmt, records_dir: str, vocab_size: int):
        from thinkscale.inference.forcing.batch import ForcingBatch
        from thinkscale.inference.forcing.budget import BudgetRules, TokenDelimiters

        self.script, self.prompt_len, self.vocab_size = script, prompt_len, vocab_size
        self.batch = ForcingBatch(BudgetRules(tokenizer, TokenDelimiters.build(tokenizer, fmt)), records_dir)
        self.steps = 0
        self.finished_at: dict[int, int] = {}  # request -> the step that emitted its last token
        self.generators: dict[int, torch.Generator] = {}

    def _generator(self, i: int, params) -> torch.Generator:
        """The request's own generator, seeded from its seed, as vLLM keeps one per seeded request."""
        if i not in self.generators:
            self.generators[i] = torch.Generator().manual_seed(params.seed or 0)
        return self.generators[i]

    def _logits(self, prompt_len: int, out: list[int]) -> torch.Tensor:
        row = torch.zeros(self.vocab_size)
        row[_at(self.script, prompt_len + len(out) - self.prompt_len)] = 1.0
        return row

    def generate(self, prompts, sampling_params, use_tqdm=True):
        for p in sampling_params:
            p.all_stop_token_ids = set(p.stop_token_ids)
        live = [(i, list(p["prompt_token_ids"]), []) for i, p in enumerate(prompts)]  # row -> request
        outputs: list = [None] * len(prompts)
        for row, (i, prompt, out) in enumerate(live):
            self.batch.add(row, sampling_params[i], len(prompt), out)
        fresh = set(range(len(live)))
        while live:
            self.batch.fold()
            logits = torch.stack([self._logits(len(prompt), out) for _, prompt, out in live])
            if fresh:  # a partial prefill: sampled, then thrown away
                self.batch.apply(logits.clone())
                fresh.clear()
            processed = self.batch.apply(logits)
            chosen = [
                int(engine_sample(processed[row : row + 1], p.temperature, p.top_p, self._generator(i, p))[0])
                for row, (i, p) in enumerate((i, sampling_params[i]) for i, _, _ in live)
            ]
            self.steps += 1
            done = []
            for row, (i, _, out) in enumerate(live):
                out.append(chosen[row])
                params = sampling_params[i]
                if chosen[row] in params.all_stop_token_ids or len(out) >= params.max_tokens:
                    outputs[i] = SimpleNamespace(outputs=[SimpleNamespace(token_ids=out)])
                    self.finished_at[i] = self.steps
                    done.append(row)
            for row in sorted(done, reverse=True):  # vLLM condenses: the last row fills the hole
                self.batch.remove(row)
                last = len(live) - 1
                if row != last:
                    self.batch.move(last, row, swap=False)
                    live[row] = live[last]
                live.pop()
        return outputs


def run_in_sampler(
    script: list[int], prompt_len: int, tokenizer, fmt, requests
) -> tuple[list, FakeSamplerLLM]:
    """Run `requests` through VLLMEngine in sampler mode on FakeSamplerLLM; (results, the fake LLM).
    Every record the processor core wrote must have been read and removed."""
    import os
    import tempfile

    from thinkscale.inference.vllm.engine import VLLMEngine

    with tempfile.TemporaryDirectory() as records:
        llm = FakeSamplerLLM(script, prompt_len, tokenizer, fmt, records, len(tokenizer))
        engine = VLLMEngine(llm, tokenizer, fmt, sampling_params_cls=FakeSamplingParams, mode="sampler",
                            records_dir=records, max_context=4096)  # fmt: skip
        results = engine.generate(requests)
        assert os.listdir(records) == []
    return results, llm
