"""The one-shot chat entry point, run as a user would (through run_cli)."""

import json

import pytest

from common.config import run_cli
from inference import chat


def test_one_shot_json(tiny_model_dir, capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(
            chat.main,
            ["--prompt", "What is 7 + 5?", "--json", "--model", str(tiny_model_dir), "--max-new-tokens", "5"],
        )
    assert e.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert {"thinking", "answer"} <= set(out)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--prompt", ""], "--prompt"),
        (["--prompt", "hi", "--max-new-tokens", "0"], "max_new_tokens"),
        (["--prompt", "hi", "--model", "/nonexistent/model"], "cannot find model"),
    ],
)
def test_bad_input_is_one_line(argv, needle, capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(chat.main, argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
