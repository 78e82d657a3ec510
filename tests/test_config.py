"""Recipe + command-line configuration: precedence, validation messages, resolved-config round trip."""

from dataclasses import dataclass, field

import pytest

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.config import parse_config, save_config


@dataclass
class StageArgs:
    max_thinking_tokens: int = field(default=64, metadata={"help": "max"})
    ignore_strings: list[str] = field(default_factory=lambda: ["Wait"], metadata={"help": "ignore"})

    def __post_init__(self):
        if self.max_thinking_tokens < 0:
            raise ValueError(f"max_thinking_tokens must be >= 0, got {self.max_thinking_tokens}")


def write(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return str(p)


def test_defaults_recipe_and_flags(tmp_path):
    recipe = write(tmp_path, "max_thinking_tokens: 128\nthink_start: '<think>'\n")
    (stage, fmt) = parse_config([StageArgs, FormatArgs], ["--config", recipe])
    assert stage.max_thinking_tokens == 128 and fmt.think_start == "<think>"
    (stage, fmt) = parse_config([StageArgs, FormatArgs], ["--config", recipe, "--max-thinking-tokens", "7"])
    assert stage.max_thinking_tokens == 7  # the flag wins over the recipe
    (stage,) = parse_config([StageArgs], ["--max_thinking_tokens", "9", "--ignore-strings", "Hmm", "Wait"])
    assert stage.max_thinking_tokens == 9 and stage.ignore_strings == ["Hmm", "Wait"]


def test_unknown_recipe_key_names_file_and_key(tmp_path):
    recipe = write(tmp_path, "max_thinking_tokns: 5\n")
    with pytest.raises(ValueError, match=r"r\.yaml.*max_thinking_tokns"):
        parse_config([StageArgs], ["--config", recipe])


def test_bad_recipes(tmp_path):
    with pytest.raises(ValueError, match="no such recipe"):
        parse_config([StageArgs], ["--config", str(tmp_path / "missing.yaml")])
    with pytest.raises(ValueError, match="mapping"):
        parse_config([StageArgs], ["--config", write(tmp_path, "- a\n- b\n")])
    with pytest.raises(ValueError, match="not valid YAML"):
        parse_config([StageArgs], ["--config", write(tmp_path, "a: [1,\n")])


def test_impossible_value_names_field(tmp_path):
    with pytest.raises(ValueError, match="max_thinking_tokens"):
        parse_config([StageArgs], ["--config", write(tmp_path, "max_thinking_tokens: -3\n")])


def test_saved_config_reproduces_the_run(tmp_path):
    stage, fmt = parse_config(
        [StageArgs, FormatArgs], ["--max-thinking-tokens", "33", "--system-prompt", "S"]
    )
    path = save_config(tmp_path / "config.yaml", stage, fmt)
    again = parse_config([StageArgs, FormatArgs], ["--config", str(path)])
    assert again == (stage, fmt)
