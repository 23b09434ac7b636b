"""Run every benchmark; echo their JSON lines and keep a copy in ``bench/out/<UTC time>.jsonl``.

    uv run python bench/run_all.py          # throughput, latency at 10^4 and 10^6, then HTTP
    uv run python bench/run_all.py --quick  # smoke run: small counts, 10^4 only

Other options (``--storages``, ``--pg-url``, ``--sqlite-synchronous``, ``--profile DIR``) are
passed to every benchmark (``http.py`` reads ``--profile DIR`` as "record py-spy profiles of the
gunicorn workers", and skips the in-memory storage). The exit status is 1 when a benchmark fails,
and with ``--strict`` also when a figure misses its target.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import harness

HERE = Path(__file__).resolve().parent
QUICK = {
    "throughput.py": ["--memory-bookings", "2000", "--db-bookings", "200"],
    "latency.py": ["--sizes", "10000", "--samples", "200", "--find-samples", "50"],
    "http.py": ["--quick"],
}
BENCHMARKS = ("throughput.py", "latency.py", "http.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small, fast smoke run")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--only", choices=BENCHMARKS, action="append", help="run only this benchmark (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "out", help="where the .jsonl goes")
    options, passed = parser.parse_known_args()
    harness.exit_cleanly_on_sigterm()
    options.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    record = options.out / f"{stamp}{'-quick' if options.quick else ''}.jsonl"
    failed: list[str] = []
    missed: list[dict[str, object]] = []
    with record.open("w") as sink:
        for script in options.only or BENCHMARKS:
            command = [sys.executable, str(HERE / script), *passed]
            if options.quick:
                command += QUICK[script]
            print(f"$ python {' '.join(command[1:])}", file=sys.stderr, flush=True)
            child = harness.run_child(command)
            try:
                assert child.stdout is not None
                for line in child.stdout:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    sink.write(line)
                    sink.flush()
                    if line.startswith("{"):
                        figures = json.loads(line)
                        if figures.get("meets_target") is False:
                            missed.append(figures)
                if child.wait():
                    failed.append(script)
            finally:
                harness.stop_child(child)
    print(f"figures saved to {record}", file=sys.stderr)
    for figures in missed:
        print(
            f"missed target: {figures['bench']} {figures['storage']} {figures['measure']}"
            + (f" n={figures['n']}" if "n" in figures else ""),
            file=sys.stderr,
        )
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 1 if options.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
