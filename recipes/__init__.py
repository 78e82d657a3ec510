"""Recipes (YAML) shipped with thinkscale as `thinkscale.recipes`: `--config smollm2-135m/eval` names one.

One folder per model: `smollm2-135m/` runs on a CPU, `qwen2.5-32b/` is s1's setup (16 GPUs),
`accelerate/` holds the launcher's FSDP configs. `thinkscale recipes` lists them.
"""
