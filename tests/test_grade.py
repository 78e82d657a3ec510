"""Answer extraction and grading, on hand-made cases and on real MATH500 / GSM8K answers."""

from __future__ import annotations

import json

import pytest

from tests.benchfiles import BENCH
from thinkscale.grading.extract import extract_answer, last_boxed
from thinkscale.grading.grade import gold_answer, grade, is_equivalent
from thinkscale.grading.grade import main as grade_main


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("so \\boxed{\\frac{1}{2}} is it", "\\frac{1}{2}"),
        ("\\boxed{1} then \\boxed{\\sqrt{\\frac{a}{b}}}", "\\sqrt{\\frac{a}{b}}"),
        ("Final Answer: 42.", "42"),
        ("Answer: x = 5\nmore text", "x = 5"),
        ("The answer is 18 dollars", "18 dollars"),
        ("we get 3, then 4, then 1,234", "1234"),
        ("no answer here", None),
        ("", None),
    ],
)
def test_extract_answer(text, want):
    assert extract_answer(text) == want


def test_unclosed_box_falls_back():
    assert last_boxed("\\boxed{12") is None
    assert extract_answer("\\boxed{12") == "12"


@pytest.mark.parametrize(
    ("text", "want"),
    [("Answer: (B)", "B"), ("\\boxed{C}", "C"), ("the answer is B.", "B"), ("**Answer:** **D**", "D"),
     ("D", "D"), ("Answer: \\text{(B)}", "B"), ("none", None),
     # A letter in prose is not an answer: the stated one wins, or there is none.
     ("The correct option is C. Checking: at point D the field vanishes.", "C"),
     ("Answer: A force of 5 N acts on it, so (C)", "C"),
     ("Point B lies between A and D.", None), ("I think it is D.", None),
     # a stated letter followed by its reason, and a "Final Answer" heading above the letter
     ("The correct option is B because the field vanishes there.", "B"), ("**Final Answer**\nB", "B"),
     ("The correct option is A because it is the only one left.", "A"), ("Final Answer:\n(D)", "D")],
)  # fmt: skip
def test_multiple_choice(text, want):
    assert extract_answer(text, choices="ABCD") == want


# Each false-positive shape, with a right answer in the same shape beside it.
@pytest.mark.parametrize(
    ("text", "gold", "choices", "right"),
    [("The correct option is C. Checking: at point D the field vanishes.", "C", "ABCD", True),
     ("The correct option is C. Checking: at point D the field vanishes.", "D", "ABCD", False),
     ("Answer: A force of 5 N acts on it, so (C)", "C", "ABCD", True),
     ("Answer: A force of 5 N acts on it, so (C)", "A", "ABCD", False),
     ("The correct option is B because the field vanishes there.", "B", "ABCD", True),
     ("The correct option is B because the field vanishes there.", "A", "ABCD", False),
     ("**Final Answer**\nB", "B", "ABCD", True), ("**Final Answer**\nB", "C", "ABCD", False),
     ("Answer: (c)", "C", "ABCD", False),  # choices are the capitals; "c" is no choice
     ("\\boxed{E}", "e", None, False), ("\\boxed{e}", "e", None, True),
     ("\\boxed{2X}", "2x", None, False), ("\\boxed{\\text{Even}}", "\\text{even}", None, True),
     ("\\boxed{3x+1 = 7}", "7", None, False), ("\\boxed{x = 7}", "7", None, True),
     ("\\boxed{a_1 = 2+5 = 7}", "7", None, True), ("\\boxed{y = 2x+3}", "y=3+2x", None, True),
     ("Final Answer: 16 * 16 = 256 square cm", "256", None, True),  # a worked computation ends in its value
     ("Final Answer: 3/11 + 8/11 = 11/11", "1", None, True), ("Final Answer: 2a + 1 = 7", "7", None, False)],
)  # fmt: skip
def test_grading_false_positives(text, gold, choices, right):
    assert grade(text, gold, choices).correct is right


@pytest.mark.parametrize(
    ("pred", "gold", "ok"),
    [("0.5", "\\frac{1}{2}", True), ("1/2", "\\frac12", True), ("x = 5", "5", True), ("18", "#### 18", True),
     ("(1, 2)", "(1,2)", True), ("\\frac{\\pi}{2}", "\\pi/2", True), ("3", "8n^2 + 4n + 1", False),
     ("2", "3", False), ("[1, 2)", "[1,2)", True), ("[1, 2]", "[1,2)", False)],
)  # fmt: skip
def test_equivalence(pred, gold, ok):
    assert is_equivalent(pred, gold_answer(gold)) is ok


def _rows(name):
    return [json.loads(line) for line in (BENCH / name).read_text().splitlines()]


def test_real_math500_answers_right_and_wrong():
    rows = _rows("math500.jsonl")
    for r in rows:  # the gold answer, boxed as a model would write it, against the full solution
        assert grade(f"so \\boxed{{{r['answer']}}}.", r["solution"]).correct, r["answer"]
    wrong = [
        grade(f"\\boxed{{{a['answer']}}}", b["answer"]).correct for a, b in zip(rows, rows[1:], strict=False)
    ]
    same = [
        gold_answer(a["answer"]) == gold_answer(b["answer"]) for a, b in zip(rows, rows[1:], strict=False)
    ]
    assert (
        sum(w and not s for w, s in zip(wrong, same, strict=False)) <= 2
    )  # a neighbour's answer is (almost) never right


def test_real_gsm8k_answers_right_and_wrong():
    rows = _rows("gsm8k_test.jsonl")
    for r in rows:
        assert grade(f"Final Answer: {gold_answer(r['answer'])}", r["answer"]).correct
        assert not grade(f"Final Answer: {int(gold_answer(r['answer'])) + 1}", r["answer"]).correct


def test_grade_cli_rewrites_file(tmp_path, capsys):
    f = tmp_path / "res.jsonl"
    f.write_text('{"p": "Answer: 4", "g": "4"}\n{"p": "\\\\boxed{5}", "g": "#### 6"}\n')
    grade_main(["--file", str(f), "--pred-field", "p", "--gold-field", "g"])
    assert "accuracy 1/2 = 0.5000" in capsys.readouterr().out
    rows = [json.loads(line) for line in f.read_text().splitlines()]
    assert [r["correct"] for r in rows] == [True, False] and rows[1]["extracted"] == "5"


def test_grade_cli_names_missing_field(tmp_path):
    f = tmp_path / "res.jsonl"
    f.write_text('{"p": "4"}\n')
    with pytest.raises(ValueError, match=r"res.jsonl:1: no field 'gold' \(set --gold-field\)"):
        grade_main(["--file", str(f), "--pred-field", "p", "--gold-field", "gold"])
