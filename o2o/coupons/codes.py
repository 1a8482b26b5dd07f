"""Coupon codes: short, unguessable, and easy to read aloud or type at a till.

Ten characters from a 32-letter alphabet without 0/O and 1/I (50 random bits): guessing a
live code is hopeless, and a customer reading it to a cashier cannot be misheard between
look-alikes. Shown as two groups of five ("7KQ2M-XW9RT"); input is forgiving about case,
spaces and dashes.
"""

from __future__ import annotations

import re
import secrets

import segno

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 10
#: A canonical code, also as the till's scanner matches what a QR holds (a JS RegExp too).
PATTERN = f"[{ALPHABET}]{{{LENGTH}}}"
_VALID = re.compile(PATTERN)
_SEPARATORS = re.compile(r"[\s\-_]+")


def new_code() -> str:
    """A fresh random code (canonical form, no dash)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize_code(raw: str) -> str | None:
    """The canonical code for what someone typed or scanned; None if it cannot be one."""
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    code = _SEPARATORS.sub("", raw).upper()
    return code if _VALID.fullmatch(code) else None


def display_code(code: str) -> str:
    """Grouped for people: 7KQ2M-XW9RT."""
    return f"{code[:5]}-{code[5:]}"


def qr_svg(code: str) -> str:
    """The code as an inline SVG QR code (no external image host), for the till's scanner."""
    qr = segno.make(code, error="m", micro=False)
    return qr.svg_inline(scale=6, border=2, dark="#111", light="#fff", omitsize=True)
