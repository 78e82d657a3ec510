"""Length groups: is a response standard (one trial) or extended (sequential voting, or long)?

    length_group(thinking, thinking_tokens, by="format", long_tokens=200)   # "standard" | "extended"

`format`: extended when the thinking holds more than one SV trial (`common.trials`); `tokens`:
extended when thinking is longer than `long_tokens` (for models whose long answers have no format).
"""

from __future__ import annotations

from thinkscale.common.errors import ConfigError
from thinkscale.common.trials import is_extended

GROUP_BY = ("format", "tokens")


def length_group(thinking: str, thinking_tokens: int, by: str, long_tokens: int) -> str:
    if by == "format":
        return "extended" if is_extended(thinking) else "standard"
    if by == "tokens":
        return "extended" if thinking_tokens > long_tokens else "standard"
    raise ConfigError(f"--group-by must be one of {GROUP_BY}, got {by!r}")
