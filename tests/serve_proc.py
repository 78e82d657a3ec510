"""A real `thinkscale serve` for tests: started on 127.0.0.1 on a free port in its own process group,
stopped by its own pid (tests/test_serve_real.py, tests/test_vllm_preemption_real.py, tests/test_soak.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(log_path, *flags: str, timeout: float = 300):
    """Yield (process, base URL, served model name) of a server started with `flags`; stop it after."""
    port = free_port()
    argv = [sys.executable, "-m", "thinkscale.inference.vllm.serve", "--port", str(port), *flags]
    with open(log_path, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {proc.returncode}:\n{Path(log_path).read_text()[-3000:]}"
                )
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the server did not start in {timeout} s:\n{Path(log_path).read_text()[-3000:]}"
                )
            time.sleep(1)
        model = requests.get(f"{base}/v1/models", timeout=10).json()["data"][0]["id"]
        yield proc, base, model
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        else:  # the server is gone; its engine processes may not be
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
