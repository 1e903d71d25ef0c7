#!/usr/bin/env python3
"""Writes the README's performance table from a run's JSON Lines (bench/run_all.py), between the
markers <!-- bench-table:begin --> and <!-- bench-table:end -->: no figure is copied by hand.

  python3 bench/readme_table.py bench/results/latest.jsonl [README.md]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results  # noqa: E402

BEGIN, END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"


def number(value, unit):
    """As a reader wants it: whole requests and MiB, milliseconds to two places."""
    if unit == "ms":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def table(entries):
    lines = ["| figure | build-service | peer | ratio | target | |", "|---|---|---|---|---|---|"]
    for e in entries:
        ratio, target = e["ratio"], e["target"]
        # The ratio is ours over the peer's; for times lower is better, for rates higher.
        met = ratio is not None and (ratio >= target if e["higher_is_better"] else ratio <= target)
        comparison = "≥" if e["higher_is_better"] else "≤"
        ours, peer = number(e["ours"], e["unit"]), number(e["peer_value"], e["unit"])
        lines.append(f"| {e['figure']} | {ours} {e['unit']} | {e['peer']} {peer} {e['unit']} | "
                     f"{ratio:.2f}× | {comparison} {target}× | {'met' if met else 'not yet'} |")
    when = entries[0]["time"][:10] if entries else "?"
    cpus = entries[0]["cpus"] if entries else "?"
    lines.append("")
    lines.append(f"Measured {when} on {cpus} shared cores with the peer in the same run "
                 "(`python3 bench/run_all.py`; how each is measured: [docs/benchmarks.md](docs/benchmarks.md)).")
    return "\n".join(lines)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    readme = sys.argv[2] if len(sys.argv) == 3 else os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
    text = open(readme).read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{readme} has no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(readme, "w") as f:
        entries = [e for e in results.load(sys.argv[1]) if e.get("in_readme", True)]
        f.write(head + BEGIN + "\n" + table(entries) + "\n" + END + tail)
    print(f"wrote the table of {sys.argv[1]} into {readme}")


if __name__ == "__main__":
    main()
