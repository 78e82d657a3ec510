"""Cold-start load time of the embedded default: converted safetensors folder vs the GGUF file.

    .venv/bin/python -m bench.bench_load

Each case is a fresh Python process that imports the toolkit and loads model + tokenizer, which is
what a user waits for at `make chat`; the GGUF load (de-quantizing Q4_1 on every start) is the
baseline that `make model` converts away.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.harness import Case, compare, table

LOAD_CONVERTED = "from thinkscale.inference.models.load import ModelArgs, load_model; load_model(ModelArgs())"
LOAD_GGUF = (
    "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
    "from thinkscale.inference.models.convert import EMBEDDED, gguf_path\n"
    "p = gguf_path(EMBEDDED['smollm2-135m'])\n"
    "AutoTokenizer.from_pretrained(p.parent, gguf_file=p.name)\n"
    "AutoModelForCausalLM.from_pretrained(p.parent, gguf_file=p.name)\n"
)


def _process(code: str):
    return lambda: subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed fresh-process loads per case")
    args = parser.parse_args()
    cases = [Case("gguf (baseline)", _process(LOAD_GGUF)), Case("converted", _process(LOAD_CONVERTED))]
    compare(cases, baseline="gguf (baseline)", repeats=args.repeats, warmup=1)
    print("Cold-start load of smollm2-135m (fresh process: imports + model + tokenizer)\n")
    print(table(cases, baseline="gguf (baseline)"))


if __name__ == "__main__":
    main()
