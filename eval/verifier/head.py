"""A value head on the policy's last hidden state: logistic regression, P(the path ends correct).

    head = ValueHead.fit(features, labels, l2=1e-2)        # [n, hidden] float, [n] 0/1
    head.prob(features)                                     # -> [n] probabilities
    head.save(folder); ValueHead.load(folder)
    auroc(scores, labels)                                   # rank-based, ties counted half

Features are standardised with the training mean and spread, then one linear layer is fitted by
L-BFGS on the L2-regularised logistic loss: convex, so the fit is the same on every run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from thinkscale.common.errors import ConfigError
from thinkscale.common.io import atomic_write_bytes, atomic_write_text


@dataclass
class ValueHead:
    weight: torch.Tensor  # [hidden]
    bias: float
    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor, y: torch.Tensor, l2: float = 1e-2, steps: int = 200) -> ValueHead:
        if x.ndim != 2 or len(x) != len(y) or len(x) == 0:
            raise ConfigError(f"need [n, hidden] features and n labels, got {tuple(x.shape)} and {len(y)}")
        if y.min() == y.max():
            raise ConfigError(
                "the training samples are all correct or all wrong: a verifier cannot learn from them"
            )
        x, y = x.double(), y.double()
        mean, std = x.mean(0), x.std(0).clamp(min=1e-6)
        z = (x - mean) / std
        w = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
        b = torch.zeros((), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

        def loss():
            opt.zero_grad()
            out = torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, y) + l2 * (w @ w) / 2
            out.backward()
            return out

        opt.step(loss)
        return cls(w.detach().float(), float(b.detach()), mean.float(), std.float())

    def prob(self, x: torch.Tensor) -> torch.Tensor:
        z = (x.float() - self.mean) / self.std
        return torch.sigmoid(z @ self.weight + self.bias)

    def save(self, folder: Path, info: dict) -> None:
        from safetensors.torch import save

        tensors = {
            "weight": self.weight,
            "mean": self.mean,
            "std": self.std,
            "bias": torch.tensor([self.bias]),
        }
        atomic_write_bytes(Path(folder) / "head.safetensors", save(tensors))
        atomic_write_text(Path(folder) / "verifier.json", json.dumps(info, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> tuple[ValueHead, dict]:
        from safetensors.torch import load_file

        folder = Path(folder)
        for name in ("head.safetensors", "verifier.json"):
            if not (folder / name).exists():
                raise FileNotFoundError(
                    f"{folder / name} not found: train the value head first (`make verifier`)"
                )
        t = load_file(folder / "head.safetensors")
        return cls(t["weight"], float(t["bias"][0]), t["mean"], t["std"]), json.loads(
            (folder / "verifier.json").read_text()
        )


def auroc(scores: list[float], labels: list[bool]) -> float | None:
    """Area under the ROC curve: P(a correct path outscores a wrong one); None without both kinds."""
    from scipy.stats import mannwhitneyu

    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    return float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))
