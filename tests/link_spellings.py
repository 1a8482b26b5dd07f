"""Spellings of one link token that a lenient base64 decoder reads as the same bytes."""

from __future__ import annotations

import string
from collections.abc import Callable

ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def spellable(make: Callable[[str], str]) -> str:
    """A token from `make(query_id)` whose last part has a '-' and unused low bits at its
    end, so that every spelling below exists for it."""
    for n in range(1, 500):
        token = make(f"q{n:03d}" + "x" * (n % 3))
        last = token.rpartition(".")[2]
        if "-" in last and len(last) % 4 in (2, 3):
            return token
    raise AssertionError("no token with every spelling")


def spellings(token: str) -> dict[str, str]:
    """Six spellings of `token`; only "canonical" is the token itself."""
    head, dot, last = token.rpartition(".")
    before = head + dot
    mid = len(last) // 2
    return {
        "canonical": token,
        "bang prefix": before + "!!" + last,
        "padding": before + last + "==",
        "mixed alphabet": before + last.replace("-", "+", 1),
        "stray low bits": before + last[:-1] + ALPHABET[ALPHABET.index(last[-1]) ^ 1],
        "line break": before + last[:mid] + "\n" + last[mid:],
    }
