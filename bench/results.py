"""One figure per line of a JSON Lines file, so that one run of several benchmarks (bench/run_all.py)
collects everything it measured and bench/readme_table.py can put it in the README without anyone
copying a number by hand. Each record: the figure's name, ours, the peer's name and value, the unit,
the ratio (ours over the peer's, oriented so that >= 1 is better when `higher_is_better`), the target.
"""
import json
import os
import platform
import time


def record(path, figure, ours, peer_name, peer, unit, higher_is_better, target, note="", in_readme=True):
    """Appends one figure to `path` (nothing without a path). `in_readme=False`: a figure for
    docs/benchmarks.md only, left out of README's table (bench/readme_table.py)."""
    if not path:
        return
    ratio = ours / peer if peer else None
    entry = {"figure": figure, "ours": round(ours, 3), "peer": peer_name, "peer_value": round(peer, 3),
             "unit": unit, "ratio": round(ratio, 3) if ratio is not None else None,
             "higher_is_better": higher_is_better, "target": target, "note": note,
             "cpus": os.cpu_count(), "host": platform.node(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "in_readme": in_readme}
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
