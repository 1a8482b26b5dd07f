"""Shared by every benchmark: print a table and write it into its own section of RESULTS.md."""

from __future__ import annotations

import platform
import re
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = "# Benchmark results\n\nEach section is rewritten by the script named in it.\n"


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table; numbers are printed as given (format them before)."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def write_section(name: str, title: str, body: str) -> None:
    """Replace (or append) the section `name` in RESULTS.md and echo it to stdout."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    block = (
        f"<!-- {name}:start -->\n## {title}\n\n_Measured {stamp} on {machine} by "
        f"`benchmarks/{name}.py`._\n\n{body.strip()}\n<!-- {name}:end -->\n"
    )
    print(block)
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else HEADER
    pattern = re.compile(rf"<!-- {name}:start -->.*?<!-- {name}:end -->\n", re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text + "\n" + block
    RESULTS.write_text(text, encoding="utf-8")


def publish(name: str, title: str, body: str, *, write: bool) -> None:
    """Write the section (which echoes it) or, with `write` False, only print its body."""
    if write:
        write_section(name, title, body)
    else:
        print(body)
