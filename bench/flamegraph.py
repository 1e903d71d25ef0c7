#!/usr/bin/env python3
"""Profiles for the benchmarks: `perf record` of one process while a scenario runs, its stacks folded
(one line per distinct stack, frames joined by ';', with a sample count) and drawn as an SVG flame
graph, widest frames first, with the heaviest leaf functions listed beside it in a text file.

  python3 bench/flamegraph.py perf.data out.svg "title"   # fold and draw an existing recording

As a module: `Recording(pid, path_stem)` starts `perf record -p PID`; `.finish(title)` stops it and
writes PATH_STEM.svg, PATH_STEM.folded and PATH_STEM.top.txt. Needs linux-perf.
"""
import collections
import html
import os
import re
import shutil
import signal
import subprocess
import sys
import time

# perf script's frame lines: "\t    55d0c0a1b2c3 symbol+0x1f (/path/to/dso)".
FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)$")


def fold(script_text):
    """{stack (root first, ';'-joined): samples} from `perf script` output."""
    stacks = collections.Counter()
    frames = []
    command = None
    for line in script_text.splitlines():
        if not line.strip():
            if command is not None:
                stacks[";".join([command] + list(reversed(frames)))] += 1
            frames, command = [], None
            continue
        match = FRAME.match(line)
        if match:
            symbol, dso = match.groups()
            symbol = re.sub(r"\+0x[0-9a-f]+$", "", symbol)
            if symbol == "[unknown]":
                symbol = f"[{os.path.basename(dso)}]"
            frames.append(demangle_light(symbol))
        elif not line.startswith((" ", "\t")):
            command = line.split()[0]
    if command is not None:
        stacks[";".join([command] + list(reversed(frames)))] += 1
    return stacks


def demangle(stacks):
    """Swift's mangled names ($s...) made readable with `swift demangle` when a toolchain is here
    (perf demangles C++ but not Swift); the stacks are returned unchanged otherwise."""
    swift = shutil.which("swift")
    frames = sorted({frame for stack in stacks for frame in stack.split(";") if frame.startswith(("$s", "_$s"))})
    if not swift or not frames:
        return stacks
    out = subprocess.run([swift, "demangle", "--simplified"], input="\n".join(frames) + "\n",
                         capture_output=True, text=True).stdout.splitlines()
    if len(out) != len(frames):
        return stacks
    names = {frame: demangle_light(name) for frame, name in zip(frames, out)}
    result = collections.Counter()
    for stack, count in stacks.items():
        result[";".join(names.get(frame, frame) for frame in stack.split(";"))] += count
    return result


def demangle_light(symbol):
    """perf demangles Swift names when it can; what is left is only shortened: generic
    specialisations and closure suffixes make names too long to read in a box."""
    symbol = re.sub(r"^(generic specialization|merged|function signature specialization) <.*?> of ", "", symbol)
    return symbol.replace(";", ",")


def svg(stacks, title, width=1400, row=16):
    """The flame graph: the root at the bottom, each frame as wide as its samples."""
    tree = {}
    for stack, count in stacks.items():
        node = tree
        for frame in stack.split(";"):
            entry = node.setdefault(frame, [0, {}])
            entry[0] += count
            node = entry[1]
    total = sum(stacks.values()) or 1

    def depth(node):
        return 1 + max((depth(child) for _, child in node.values()), default=0)

    levels = depth(tree)
    height = (levels + 3) * row
    boxes = []

    def draw(node, x, level):
        for frame, (count, children) in sorted(node.items(), key=lambda item: -item[1][0]):
            w = count / total * width
            if w >= 0.5:
                y = height - (level + 2) * row
                hue = 20 + (hash(frame) % 40)
                label = frame if w > 40 else ""
                chars = int(w / 7)
                if len(label) > chars:
                    label = label[:max(0, chars - 2)] + ".." if chars > 3 else ""
                tip = f"{frame} ({count} samples, {count / total * 100:.1f}%)"
                boxes.append(f'<g><title>{html.escape(tip)}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" '
                             f'height="{row - 1}" fill="hsl({hue},80%,60%)"/>'
                             f'<text x="{x + 3:.1f}" y="{y + row - 4}">{html.escape(label)}</text></g>')
                draw(children, x, level + 1)
            x += w

    draw(tree, 0.0, 0)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="monospace" font-size="11">\n'
            f'<text x="4" y="14" font-size="13">{html.escape(title)} ({total} samples)</text>\n'
            + "\n".join(boxes) + "\n</svg>\n")


def top_leaves(stacks, limit=30):
    """The functions the samples ended in, heaviest first (self time)."""
    leaves = collections.Counter()
    for stack, count in stacks.items():
        leaves[stack.rsplit(";", 1)[-1]] += count
    total = sum(leaves.values()) or 1
    return "\n".join(f"{count / total * 100:5.1f}%  {name}" for name, count in leaves.most_common(limit)) + "\n"


def write(data_path, stem, title):
    script = subprocess.run(["perf", "script", "-i", data_path], capture_output=True, text=True, errors="replace").stdout
    stacks = demangle(fold(script))
    with open(stem + ".folded", "w") as f:
        f.writelines(f"{stack} {count}\n" for stack, count in stacks.most_common())
    with open(stem + ".svg", "w") as f:
        f.write(svg(stacks, title))
    with open(stem + ".top.txt", "w") as f:
        f.write(f"{title}\n" + top_leaves(stacks))
    return stem + ".svg"


class Recording:
    """`perf record` of one running process (call stacks from DWARF unwinding: Swift's release
    code keeps no frame pointers) until `finish`."""

    def __init__(self, pid, stem, frequency=2000):
        self.stem = stem
        self.data = stem + ".perf.data"
        os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
        self.proc = subprocess.Popen(["perf", "record", "-q", "-F", str(frequency), "--call-graph", "dwarf,16384",
                                      "-p", str(pid), "-o", self.data],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish(self, title):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait()
        path = write(self.data, self.stem, title)
        os.unlink(self.data)
        return path


def profile(pid, directory, name, work):
    """With a directory (a script's --profile DIR): `work()` once more with perf recording process
    `pid` (and what it starts); the flame graph is DIR/NAME.svg, beside NAME.folded and
    NAME.top.txt. Without one, nothing."""
    if not directory:
        return
    recording = Recording(pid, os.path.join(directory, name))
    time.sleep(0.5)  # perf attaches in the background; a short run would be over first
    try:
        work()
    finally:
        print(f"  profile: {recording.finish(name)}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    print(write(sys.argv[1], os.path.splitext(sys.argv[2])[0], sys.argv[3]))
