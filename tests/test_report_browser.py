"""The run report in a real headless browser: a small real s1 study on the embedded default, its
report.html opened from file://. The per-point numbers are metrics.json's; a forced "Wait" is
highlighted at the token position the engine recorded; the wrong-only filter leaves the questions
with a wrong sample; a `<script>` the run forced into a trace (as an ignore string) shows as text
and never runs; bytes that are not UTF-8 show as replacement characters. A screenshot is taken.

Needs Debian's chromium and chromium-driver and selenium (CI installs them); skipped without them,
failed without them under THINKSCALE_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import browser

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = "<script>window.__pwned = 1</script>"
QUESTIONS = [
    {"question": "What is 7 + 5?", "answer": "12"},
    {"question": "What is 3 * 4? Write </textarea> &amp; <b>bold</b> if you like.", "answer": "12"},
    {"question": "What is 9 - 2?", "answer": "7"},
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A real run: `thinkscale eval` on the embedded default, which tries to stop thinking at once, so
    "Wait" 2 forces two ignore strings: "Wait", then the script tag."""
    tmp = tmp_path_factory.mktemp("report")
    bench = tmp / "mini.jsonl"
    bench.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "thinkscale", "eval", "--model", "smollm2-135m", "--benchmark", str(bench),
         "--methods", "budget_forcing", "wait", "--budgets", "8", "16", "--wait-counts", "0", "2",
         "--wait-max-thinking", "48", "--wait-ignore-strings", "Wait", SCRIPT, "--name", "mini",
         "--output-root", str(tmp)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp / "eval" / "mini"
    assert (out / "report.html").is_file()  # the study writes its report at the end of the run
    return out


def _samples(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def test_report_in_a_browser(run, tmp_path):
    samples = _samples(run)
    forced = next(s for s in samples if s["label"] == "wait" and s["budget"] == 2 and s["num_forced"] == 2)
    segments = forced["segments"]
    wait_at = next(i for i, s in enumerate(segments) if s["kind"] == "ignore_string")
    position = sum(s["tokens"] for s in segments[:wait_at])  # where the engine put the first "Wait"
    assert segments[wait_at]["text"] == "Wait" and any(s["text"] == SCRIPT for s in segments)

    driver = browser()
    try:
        driver.get((run / "report.html").resolve().as_uri())
        report = driver.execute_script("return window.__report")
        assert report["questions"] == 3 and report["columns"] == 4
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []

        # the per-point numbers are metrics.json's
        metrics = json.loads((run / "metrics.json").read_text())["methods"]
        shown = driver.execute_script(
            "return [...document.querySelectorAll('#metrics tr[data-label]')].map(r => "
            "[r.dataset.label, r.dataset.point, r.querySelector('td.acc').dataset.accuracy])"
        )
        expected = {
            (label, str(p["point"])): p["accuracy"] for label, m in metrics.items() for p in m["points"]
        }
        assert {(label, point): float(acc) for label, point, acc in shown} == expected
        text = driver.execute_script("return document.getElementById('metrics').textContent")
        for m in metrics.values():
            for p in m["points"]:
                assert (
                    f"{100 * p['accuracy']:.1f} [{100 * p['ci95'][0]:.1f}, {100 * p['ci95'][1]:.1f}]" in text
                )

        # click the question, pick its "Wait" 2 trace: the first forced "Wait" sits where the engine put it
        row = driver.find_element("css selector", f"#grid tr[data-id='{forced['id']}'] td.q")
        row.click()
        driver.execute_script("const a = document.getElementById('cmp-a'); a.value = 'wait @ 2';"
                              "a.dispatchEvent(new Event('change'));")  # fmt: skip
        spans = driver.find_elements("css selector", "#pane-a span.seg-ignore_string.forced")
        assert [s.text for s in spans][:1] == ["Wait"]
        assert spans[0].get_attribute("data-pos") == str(position)
        assert spans[0].value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"  # highlighted
        # the script the run forced into the trace is text on the page, and it never ran
        assert SCRIPT in driver.find_element("id", "pane-a").text
        assert driver.execute_script("return window.__pwned === undefined")
        driver.save_screenshot(str(tmp_path / "report.png"))
        if os.environ.get("THINKSCALE_SCREENSHOT"):  # how docs/img/report.png is made
            shutil.copy(tmp_path / "report.png", os.environ["THINKSCALE_SCREENSHOT"])

        # a question holding markup shows it as text (and the page is still whole afterwards)
        marked = next(s["id"] for s in samples if "textarea" in s["question"])
        driver.execute_script("window.__report.showQuestion(arguments[0])", marked)
        assert "</textarea> &amp; <b>bold</b>" in driver.find_element("id", "question-text").text
        assert driver.find_elements("id", "f-wrong")

        # wrong only: the questions with at least one wrong sample, each showing a wrong cell
        driver.find_element("id", "f-wrong").click()
        any_wrong = {s["id"] for s in samples if not s["correct"]}
        visible = driver.execute_script(
            "return [...document.querySelectorAll('#grid tr[data-id]')].filter(r => r.style.display !== 'none')"
            ".map(r => [r.dataset.id, r.querySelectorAll('td.wrong:not(.dim)').length, r.querySelectorAll('td.right:not(.dim)').length])"
        )  # fmt: skip
        assert {v[0] for v in visible} == any_wrong
        assert all(n_wrong >= 1 and n_right == 0 for _, n_wrong, n_right in visible)
    finally:
        driver.quit()


def test_bytes_that_are_not_utf8_render_as_replacement_characters(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    row = dict(_samples(copy)[0], id="bad-bytes", segments=[], thinking="@@", answer="")
    line = json.dumps(row).replace("@@", "bad ##").encode().replace(b"##", b"\xff\xfe")  # not UTF-8
    with (copy / "samples.jsonl").open("ab") as f:
        f.write(line + b"\n")
    subprocess.run([sys.executable, "-m", "thinkscale", "view", str(copy)], cwd=ROOT, check=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)  # fmt: skip
    driver = browser()
    try:
        driver.get((copy / "report.html").resolve().as_uri())
        driver.execute_script("window.__report.showQuestion('bad-bytes')")
        assert "bad \ufffd\ufffd" in driver.find_element("id", "pane-a").text
    finally:
        driver.quit()


def test_a_search_runs_tree_in_the_browser(tiny_model_dir, tmp_path):
    """A real beam search on the tiny model: its report draws each question's tree with the chosen path."""
    import torch

    from tests.test_strategies_cli import _argv
    from thinkscale.eval.strategies.run import main
    from thinkscale.eval.verifier.head import ValueHead

    x = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    ValueHead.fit(x, (x[:, 0] > 0).float()).save(tmp_path / "vh", {"model": str(tiny_model_dir)})
    assert main(_argv(tiny_model_dir, tmp_path, "--name", "t", "--verifier", f"value_head:{tmp_path / 'vh'}",
                      "--strategies", "beam_search", "--beam-n", "4", "--beam-width", "2",
                      "--max-step-tokens", "3")) == 0  # fmt: skip
    out = tmp_path / "strategies" / "t"
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    driver = browser()
    try:
        driver.get((out / "report.html").resolve().as_uri())
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
        record = records[0]
        driver.execute_script("window.__report.showQuestion(arguments[0])", record["id"])
        nodes = driver.find_elements("css selector", "#pane-a .tree li > .node")
        assert len(nodes) == len(record["tree"])
        chosen = driver.find_elements("css selector", "#pane-a .tree li > .node.chosen")
        assert len(chosen) == sum(n["chosen"] for n in record["tree"]) >= 1
    finally:
        driver.quit()
