"""Setting checks that name the flag, for the stages' `__post_init__` (run before any work starts).

at_least(self, 1, "batch_size", "max_tries")          # --batch-size must be >= 1, got 0
within(self, 0.0, 1.0, "verify_rate")                 # --verify-rate must be in [0, 1], got 1.5
"""

from __future__ import annotations

from thinkscale.common.errors import ConfigError


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def at_least(obj, minimum: float, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value < minimum:
            raise ConfigError(f"{flag(name)} must be >= {minimum}, got {value}")


def within(obj, low: float, high: float, *names: str, high_open: bool = False) -> None:
    for name in names:
        value = getattr(obj, name)
        if not (low <= value < high if high_open else low <= value <= high):
            raise ConfigError(
                f"{flag(name)} must be in [{low}, {high}{')' if high_open else ']'}, got {value}"
            )
