#!/usr/bin/env python3
"""Writes a man page's Markdown (for pandoc) from a program's --help, so that its SYNOPSIS and
OPTIONS are the argument parser's own, followed by a hand-written part (docs/man/NAME.SECTION.md:
FILES, ENVIRONMENT, EXIT STATUS, SEE ALSO...).

    man-page.py PROGRAM SECTION HANDWRITTEN.md [SUBCOMMAND...] > page.md
    man-page.py --document HEADER.md DOCUMENT.md > page.md

Each SUBCOMMAND's help (PROGRAM help SUBCOMMAND) becomes a subsection of COMMANDS. A DOCUMENT
(docs/configuration.md) goes one heading level up, its tables become definition lists (a
terminal is too narrow for a table of keys), after HEADER.md (NAME, SYNOPSIS)."""
import os
import re
import subprocess
import sys


def help_text(program, subcommand=None):
    arguments = [program, "help", subcommand] if subcommand else [program, "--help"]
    # The parser wraps its help to the terminal's width: a fixed one, for the same page anywhere.
    result = subprocess.run(arguments, capture_output=True, text=True, check=True, env=dict(os.environ, COLUMNS="80"))
    return result.stdout


def sections(text):
    """The help's parts by heading (OVERVIEW, USAGE, ARGUMENTS, OPTIONS, SUBCOMMANDS); the
    overview keeps the discussion that follows it."""
    parts, current = {}, None
    for line in text.splitlines():
        match = re.match(r"^([A-Z]+):\s?(.*)$", line)
        if match and match.group(1) in ("OVERVIEW", "USAGE", "ARGUMENTS", "OPTIONS", "SUBCOMMANDS"):
            current = match.group(1)
            parts[current] = [match.group(2)] if match.group(2) else []
        elif current:
            parts[current].append(line)
    return parts


def escape(text):
    return re.sub(r"([*_\\`<>\[\]$])", r"\\\1", text)


def entries(lines):
    """Option or argument lines ("  --name <v>   help" with continuations) as (term, help)."""
    items = []
    for line in lines:
        if not line.strip() or line.strip().startswith("See '"):
            continue
        if line.startswith("  ") and not line.startswith("    "):
            term, _, rest = line.strip().partition("  ")
            items.append([term.strip(), rest.strip()])
        elif items:
            items[-1][1] = (items[-1][1] + " " + line.strip()).strip()
    return items


def definition_list(lines):
    out = []
    for term, text in entries(lines):
        if term in ("--version", "-h, --help"):
            continue
        out.append(f"**{escape(term)}**\n:   {escape(text)}\n")
    return "\n".join(out)


def overview(parts):
    lines = parts.get("OVERVIEW", [])
    paragraphs, current = [], []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def cells(row):
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def document(header, path):
    """The document with headings one level up and tables as definition lists."""
    out, titles = [], None
    with open(path, encoding="utf-8") as text:
        lines = text.read().splitlines()[1:]
    fenced = False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        if fenced or line.startswith("```"):
            out.append(line)
            continue
        if line.startswith("|"):
            row = cells(line)
            if titles is None:
                titles = row
            elif not all(re.fullmatch(r":?-+:?", cell) for cell in row):
                details = "; ".join(f"{title}: {cell}" for title, cell in zip(titles[1:-1], row[1:-1]) if cell)
                meaning = row[-1] if len(row) > 1 else ""
                out += [row[0], f":   {details + ('. ' if details else '')}{meaning}", ""]
            continue
        titles = None
        out.append(re.sub(r"^#(#+) ", r"\1 ", line))
    with open(header, encoding="utf-8") as page:
        return page.read() + "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 4 or (sys.argv[1] == "--document" and len(sys.argv) != 4):
        sys.exit(__doc__)
    if sys.argv[1] == "--document":
        sys.stdout.write(document(sys.argv[2], sys.argv[3]))
        return
    program, section, handwritten = sys.argv[1:4]
    subcommands = sys.argv[4:]
    name = program.rsplit("/", 1)[-1]
    top = sections(help_text(program))
    paragraphs = overview(top)
    out = [f"% {name.upper()}({section}) | build-service manual", "", "# NAME", "",
           f"{name} - {escape(paragraphs[0] if paragraphs else '')}", "", "# SYNOPSIS", ""]
    # One synopsis line per usage line (build-cli lists its verbs' forms).
    usages = [line.strip() for line in top["USAGE"] if line.strip()] + [
        " ".join(sections(help_text(program, sub)).get("USAGE", [])).strip() for sub in subcommands
    ]
    out += [f"| {escape(usage)}" for usage in usages] + [""]
    if len(paragraphs) > 1:
        out += ["# DESCRIPTION", ""] + [escape(p) + "\n" for p in paragraphs[1:]]
    if top.get("ARGUMENTS") or top.get("OPTIONS"):
        out += ["# OPTIONS", "", definition_list(top.get("ARGUMENTS", []) + top.get("OPTIONS", [])), ""]
    if subcommands:
        out += ["# COMMANDS", ""]
        for sub in subcommands:
            parts = sections(help_text(program, sub))
            out += [f"## {sub}", "", escape(" ".join(overview(parts))), "", definition_list(parts.get("OPTIONS", [])), ""]
    with open(handwritten, encoding="utf-8") as page:
        out.append(page.read())
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
