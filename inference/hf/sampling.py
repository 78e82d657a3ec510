"""Next-token choice: greedy at temperature 0, else temperature + top-p sampling from a per-request
generator, so a request's samples depend on its own seed and not on what shares its batch."""

from __future__ import annotations

import torch


def make_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sample_row(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> int:
    """Choose one token id from a [vocab] row of logits."""
    if temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        # keep the smallest prefix whose mass reaches top_p (the first token always stays)
        drop = sorted_probs.cumsum(-1) - sorted_probs >= top_p
        sorted_probs[drop] = 0.0
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))
