"""The one exception for bad input: `ConfigError`, a `ValueError` whose message names the file, field
or flag at fault. The CLI prints it as one line and exits 2; any other exception is a bug of ours and
shows its traceback (`THINKSCALE_DEBUG=1` shows it for a `ConfigError` too)."""


class ConfigError(ValueError):
    """Bad input from a user (a recipe, a flag, a file, a request): the message says what to change."""
