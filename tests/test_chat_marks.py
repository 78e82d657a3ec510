"""`thinkscale chat` marks what the budget rules forced: in colour on a terminal, in brackets otherwise."""

from thinkscale.inference.chat import FORCED, RESET, _Printer


def _printed(capsys, tokenizer, color, events):
    printer = _Printer(tokenizer, color)
    for kind, text in events:
        printer.add(kind, tokenizer.encode(text, add_special_tokens=False))
    printer.end()
    return capsys.readouterr().out


EVENTS = [("thinking", "The answer is"), ("thinking", " 11."), ("ignore_string", "Wait"), ("thinking", " no, 12."),
          ("delimiter", "<|im_start|>answer\n"), ("final_answer_prefix", "Final Answer:"), ("answer", " 12")]  # fmt: skip


def test_forced_tokens_in_brackets_without_a_terminal(capsys, tokenizer):
    out = _printed(capsys, tokenizer, False, EVENTS)
    assert out == "[thinking] The answer is 11.[Wait] no, 12.\n[answer] [Final Answer:] 12\n"


def test_forced_tokens_in_colour_on_a_terminal(capsys, tokenizer):
    out = _printed(capsys, tokenizer, True, EVENTS)
    assert (
        f"{FORCED['ignore_string']}Wait{RESET}" in out
        and f"{FORCED['final_answer_prefix']}Final Answer:{RESET}" in out
    )
    assert "[Wait]" not in out and "<|im_start|>" not in out
