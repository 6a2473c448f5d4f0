"""Run every bench/bench_*.py in turn, each in its own process and bounded in time.

    .venv/bin/python bench/run_all.py [--timeout 1200] [--only claims,inbox] [-- extra args for every benchmark]

Each benchmark's output is streamed as it comes, under a header naming it. A benchmark that overruns its
bound is sent SIGTERM (it then drops its database) and, 30 s later, SIGKILL. Exit status: 0 when every
benchmark exited 0, else 1 (timing never fails a benchmark; a failed correctness check or a crash does).
"""
from __future__ import annotations

import argparse
import glob
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")


def run(path: str, timeout: float, extra: list[str]) -> tuple[int | None, float]:
    started = time.monotonic()
    proc = subprocess.Popen([PYTHON if os.path.exists(PYTHON) else sys.executable, path, *extra], cwd=ROOT)
    try:
        return proc.wait(timeout=timeout), time.monotonic() - started
    except subprocess.TimeoutExpired:
        print(f"# {os.path.basename(path)} overran {timeout:.0f}s: stopping it", flush=True)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return None, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds allowed to each benchmark")
    parser.add_argument("--only", default="", help="comma-separated names, e.g. claims,sweep")
    parser.add_argument("extra", nargs="*", help="arguments passed to every benchmark (after --)")
    args = parser.parse_args()
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    paths = sorted(glob.glob(os.path.join(HERE, "bench_*.py")))
    if only:
        paths = [p for p in paths if os.path.basename(p)[len("bench_"):-3] in only]
    results = []
    for path in paths:
        name = os.path.basename(path)
        print(f"\n===== {name} =====", flush=True)
        code, elapsed = run(path, args.timeout, args.extra)
        results.append((name, code, elapsed))
    print("\n===== summary =====")
    for name, code, elapsed in results:
        status = "timeout" if code is None else f"exit {code}"
        print(f"{name}: {status} in {elapsed:.0f}s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
