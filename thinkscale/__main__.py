"""`python -m thinkscale ...` is the `thinkscale` command (torchrun and accelerate launch it this way)."""

from thinkscale.cli import entry

if __name__ == "__main__":
    entry()
