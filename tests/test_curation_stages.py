"""Curation stages on small in-memory data: sources, quality, decontamination, domains, selection, format."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from tests.benchfiles import BENCH
from thinkscale.common.chat_format import FormatArgs
from thinkscale.data.decontaminate import EvalIndex, s1_ngrams
from thinkscale.data.domains import keyword_domain, label_domains, parse_model_label
from thinkscale.data.quality import QualityArgs, quality_filter
from thinkscale.data.render import render_rows
from thinkscale.data.select import rank_draw, s1_select
from thinkscale.data.sources import SourceArgs, load_local, s1_row


def row(i, q, reasoning="Think.", answer="1", source="x", domain=None):
    return {"id": f"r{i}", "question": q, "reasoning": reasoning, "answer": answer, "gold": answer,
            "domain": domain, "level": None, "source": source, "meta": {}}  # fmt: skip


S1K_11 = {  # one row in the s1K-1.1 schema
    "solution": "The sum is \\boxed{12}.", "question": "Find the sum of 5 and 7.", "cot_type": "math",
    "source_type": "AI-MO/NuminaMath-CoT/aops_forum", "metadata": "{}", "gemini_thinking_trajectory": "G thinks",
    "gemini_attempt": "G says 12", "deepseek_thinking_trajectory": "D thinks", "deepseek_attempt": "D says 12",
}  # fmt: skip
S1K = {"solution": "42", "question": "Q?", "cot_type": "math", "source_type": "qq8933/AIME_1983_2024",
       "metadata": "{}", "cot": None, "thinking_trajectories": ["step one"], "attempt": "42"}  # fmt: skip


def test_s1_schemas_map_to_common_rows():
    r = s1_row(S1K_11, "simplescaling/s1K-1.1", 0)
    assert (r["reasoning"], r["answer"], r["gold"]) == ("D thinks", "D says 12", S1K_11["solution"])
    assert r["source"] == "simplescaling/s1K-1.1:AI-MO/NuminaMath-CoT/aops_forum"
    assert s1_row(S1K_11, "s", 0, family="gemini")["reasoning"] == "G thinks"
    r = s1_row(S1K, "simplescaling/s1K", 3)
    assert (r["id"], r["reasoning"], r["answer"]) == ("simplescaling/s1K-3", "step one", "42")


def test_quality_drops_each_bad_kind():
    rows = [row(0, "What is 2 + 2?"), row(1, "   "), row(2, "Q3 with 3?", reasoning=""),
            row(3, "Q4 with 4?", reasoning="API Error: rate limit exceeded"),
            row(4, "See ![fig](a.png) with 5?"), row(5, "[asy] draw(6); [/asy] Find 6."),
            row(6, "[asy] draw(7); [/asy] Find 7.", source="AIME_2020"), row(7, "what is 2+2")]  # fmt: skip
    kept, counts, _ = quality_filter(rows, [], QualityArgs())
    assert [r["id"] for r in kept] == ["r0", "r6"]
    assert counts == {"missing_question": 1, "missing_reasoning": 1, "api_error": 1, "image": 1,
                      "asy_figure": 1, "duplicate": 1}  # fmt: skip


def test_near_duplicates_need_the_same_numbers():
    base = (
        "A train leaves the station at 3 pm and travels 120 miles at a constant speed of 40 miles per hour."
    )
    paraphrase = base.replace("A train", "The train")  # one word: trigram Jaccard 19/21
    template = base.replace("120", "150")
    kept, _, _ = quality_filter([row(0, base), row(1, paraphrase), row(2, template)], [], QualityArgs())
    assert [r["id"] for r in kept] == ["r0", "r2"]


def test_planted_8gram_overlap_is_caught(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(
        json.dumps({"problem": "Let f be the function defined by f(x) = x^2 + 3x for all reals."}) + "\n"
    )
    planted = row(
        0, "Hard one. Let f be the function defined by f(x) = 7 - x. Compute f(2)."
    )  # 8 shared words
    clean = row(1, "Let g be a map with g(x) = 7 - x. Compute g(2).")
    kept, counts, _ = quality_filter([planted, clean], [], QualityArgs(decontaminate_against=[str(bench)]))
    assert [r["id"] for r in kept] == ["r1"] and counts == {"contaminated:bench.jsonl": 1}


def test_real_benchmark_question_is_caught():
    q = json.loads((BENCH / "math500.jsonl").read_text().splitlines()[5])["problem"]
    index = EvalIndex.from_files([str(BENCH / "math500.jsonl"), str(BENCH / "gsm8k_test.jsonl")])
    assert index.contaminated("Warm-up. " + q) == "math500.jsonl"
    assert index.contaminated("Compute (3 + 4) * 5 - 2.") is None


def test_builtin_rows_are_checked_against_the_builtin_test_split_by_exact_question():
    test = [row(100, "Compute (3 + 4) * 5 - 2.")]
    rows = [row(0, "Compute (3 + 4) * 5 - 2.", source="builtin"), row(1, "Compute (3 + 4) * 5 - 9.", source="builtin"),
            row(2, "Tell me what you get for (3 + 4) * 5 - 2 today.", source="hub")]  # fmt: skip
    kept, counts, _ = quality_filter(rows, test, QualityArgs(ngram=4))
    assert [r["id"] for r in kept] == ["r1"]  # the template sibling stays, the copy and the 4-gram overlap go
    assert counts == {"contaminated:builtin-test": 2}


def test_local_file_mapping_and_bad_input(tmp_path):
    f = tmp_path / "pool.jsonl"
    f.write_text('{"q": "Q1?", "r": "R1", "a": "1"}\n{"q": "Q2?", "r": "R2", "a": "2"}\nnot json\n')
    args = SourceArgs(question_column="q", reasoning_column="r", answer_column="a")
    with pytest.raises(ValueError, match=r"pool.jsonl:3: malformed JSON"):
        load_local(f, args, [])
    skipped = []
    rows = load_local(
        f, SourceArgs(question_column="q", reasoning_column="r", answer_column="a", on_error="skip"), skipped
    )
    assert [r["question"] for r in rows] == ["Q1?", "Q2?"] and rows[0]["gold"] == "1" and len(skipped) == 1
    with pytest.raises(ValueError, match=r"no column 'reasoning' \(set --reasoning-column"):
        load_local(f, SourceArgs(question_column="q", answer_column="a", on_error="skip"), [])


def test_keyword_domains_and_model_labels():
    assert (
        keyword_domain("What is the probability of rolling two dice?")
        == "60 Probability theory and stochastic processes"
    )
    assert keyword_domain("Find the remainder when 2^10 is divided by 7.") == "11 Number theory"
    assert keyword_domain("Find the area of the triangle.") == "51 Geometry"
    assert keyword_domain("Hello there.") == "00 General and overarching topics"
    # s1 reads the two-digit code on the reply's last line; a reply ending in none is not a label
    assert parse_model_label("It counts arrangements of beads.\n05") == "05 Combinatorics"
    assert parse_model_label("Reasoning...\n**11**.") == "11 Number theory"
    assert parse_model_label("number theory") is None and parse_model_label("Code 99") is None
    rows = [
        row(0, "What is the probability of heads?"),
        row(1, "Area of a circle?"),
        row(2, "x", domain="given"),
    ]
    asked = []

    def labeler(questions):
        asked.extend(questions)
        return ["Matrices are involved.\n15", "no idea"]

    counts = label_domains(rows, "model", model_labeler=labeler)
    assert asked == ["What is the probability of heads?", "Area of a circle?"]
    assert [r["domain"] for r in rows] == [
        "15 Linear and multilinear algebra; matrix theory",
        "51 Geometry",
        "given",
    ]
    assert counts == {"given": 1, "keyword": 1, "model": 1}


def test_the_labeller_asks_as_s1_did_over_its_61_msc_areas():
    """s1's data/featurization.py: its instruction as the system turn; the question and a rubric of
    the 61 MSC areas it used ("### title / * Code / * Description") as the user turn."""
    from thinkscale.data.msc import MSC_AREAS, labeller_messages

    s1_codes = ["03", "05", "06", "08", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "22", "26", "28", "30", "31", "32", "33", "34", "35", "37", "39", "40", "41", "42", "43", "44", "45", "46", "47", "49", "51", "52", "53", "54", "55", "57", "58", "60", "62", "65", "68", "70", "74", "76", "78", "80", "81", "82", "83", "85", "86", "90", "91", "92", "93", "94", "97"]  # fmt: skip
    assert list(MSC_AREAS) == s1_codes and len(s1_codes) == 61
    system, user = labeller_messages("How many subsets does a 5-set have?")
    assert system["role"] == "system" and system["content"].endswith(
        "end your response on a new line with two-digit code of the subject that the question belongs to."
    )
    assert user["content"].startswith(
        "## Question\nHow many subsets does a 5-set have?\n\n## Classification rubrics\n"
    )
    assert "### Combinatorics\n* Code: 05\n* Description: " in user["content"]
    assert user["content"].count("* Code: ") == 61


def test_rank_draw_follows_two_to_the_minus_rank():
    rng = random.Random(0)
    n = 60000
    freq = Counter(rank_draw(rng, 4) for _ in range(n))
    for r, p in enumerate([8 / 15, 4 / 15, 2 / 15, 1 / 15]):
        assert abs(freq[r] / n - p) < 0.01
    assert Counter(rank_draw(rng, 3, base=1.0) for _ in range(30000))[2] / 30000 == pytest.approx(
        1 / 3, abs=0.015
    )


def test_s1_select_picks_domains_uniformly_and_long_traces_first():
    big = [{**row(i, f"q{i}", domain="big"), "trace_tokens": i} for i in range(100)]
    small = [{**row(100 + i, f"s{i}", domain="small"), "trace_tokens": i} for i in range(5)]
    firsts = Counter()
    top = Counter()
    for seed in range(2000):
        pick = s1_select(big + small, 1, seed=seed)[0]
        firsts[pick["domain"]] += 1
        if pick["domain"] == "big":
            top[pick["trace_tokens"]] += 1
    assert abs(firsts["big"] / 2000 - 0.5) < 0.05  # a domain's size does not matter, only that it is a domain
    assert top[99] / sum(top.values()) == pytest.approx(0.5, abs=0.05)  # the longest trace has weight 1/2
    chosen = s1_select(big + small, 10, seed=1)
    assert chosen == s1_select(big + small, 10, seed=1) and len({r["id"] for r in chosen}) == 10
    assert len(s1_select(small, 50, seed=0)) == 5  # the pool ran short: all of it, no repeats


def test_render_rows_reports_drops_or_rejects_long_rows(tokenizer):
    rows = [row(0, "Short?", "a b", "1"), row(1, "Long?", "word " * 300, "2")]
    fmt = FormatArgs()
    kept, info = render_rows([dict(r) for r in rows], tokenizer, fmt, block_size=200)
    assert len(kept) == 2 and info["over_block_size"] == 1 and info["over_block_size_ids"] == ["r1"]
    assert (
        kept[0]["text"].startswith(kept[0]["prompt_text"])
        and "<|im_start|>think\na b\n<|im_start|>answer\nAnswer: 1<|im_end|>" in kept[0]["text"]
    )
    kept, info = render_rows([dict(r) for r in rows], tokenizer, fmt, block_size=200, over_length="drop")
    assert [r["id"] for r in kept] == ["r0"] and info["dropped"] == 1
    with pytest.raises(ValueError, match="1 rows are longer than --block-size 200"):
        render_rows([dict(r) for r in rows], tokenizer, fmt, block_size=200, over_length="error")


def test_s1s_question_patterns_and_rows_without_a_reference_answer_are_dropped():
    """s1's filter.ipynb: "p{i}." (a problem number), a bold span holding a digit, and any row with a
    missing feature — a coding row without a gold answer must not reach the difficulty stage, where it
    would count as unsolved and be kept."""
    rows = [row(0, "Find x if 2x = 6."), row(1, "Solve p3. from the sheet: 2x = 8."),
            row(2, "The value **n=4** is given; find n + 1."), row(3, "Write a function that sorts a list.", answer=""),
            {**row(4, "Implement quicksort in C."), "gold": None}, row(5, "What is **bold** text with no number?")]  # fmt: skip
    kept, counts, _ = quality_filter(rows, [], QualityArgs())
    assert [r["id"] for r in kept] == ["r0", "r5"]
    assert counts == {"problem_number": 1, "bold_digits": 1, "missing_answer": 1, "missing_gold": 1}


def test_an_already_curated_set_is_trained_on_whole():
    rows = [row(0, "Solve p3. from the sheet."), row(1, "   ")]
    kept, counts, _ = quality_filter(rows, [], QualityArgs(filter_quality=False))
    assert kept == rows and counts == {}


def test_decontamination_is_s1s_rule_on_math500():
    """s1's 8-grams (lower-cased, whitespace words; none for a text under 8 words): MATH500 against
    itself, 27 of its 500 problems share an 8-gram with another problem (105 under a tokenizer that
    splits LaTeX into symbols). The fixture holds those 27 and the first 40 problems (65 rows)."""
    questions = [json.loads(line)["problem"] for line in (BENCH / "math500.jsonl").read_text().splitlines()]
    assert len(questions) == 65
    overlapping = 0
    for i, q in enumerate(questions):
        others = EvalIndex()
        others.add("rest", questions[:i] + questions[i + 1 :])
        overlapping += any(g in others.grams for g in s1_ngrams(q, 8))
    assert overlapping == 27


def test_gpqa_rows_are_graded_against_their_choice():
    """s1's GPQA rows hold the explanation as their solution, the choice last: the gold is the letter,
    graded as a choice (so the keep-whole and difficulty steps can find a right trace); a row whose
    solution names no letter has no gold and is dropped by the quality stage."""
    from thinkscale.grading.grade import grade

    rec = {"question": "Which is stable?\nAnswer Choices:\n(A) x\n(B) y\n(C) z\n(D) w", "source_type": "Idavidrein/gpqa",
           "solution": "Only z keeps its charge (see (A) for the opposite case).\n\nAnswer: C",
           "thinking_trajectories": ["z is stable"], "attempt": "The answer is (C) z."}  # fmt: skip
    r = s1_row(rec, "pool", 0)
    assert r["gold"] == "C" and r["choices"] == "ABCD"
    assert grade(r["answer"], r["gold"], r["choices"]).correct
    assert not grade("The answer is (A).", r["gold"], r["choices"]).correct
    bare = s1_row({**rec, "solution": "Only z keeps its charge."}, "pool", 1)
    kept, counts, _ = quality_filter([bare], [], QualityArgs())
    assert bare["gold"] is None and kept == [] and counts == {"missing_gold": 1}
