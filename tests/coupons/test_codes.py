"""Coupon codes: unguessable, unambiguous, forgiving to type, QR codes self-contained."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from o2o.coupons.codes import ALPHABET, LENGTH, display_code, new_code, normalize_code, qr_svg


def test_alphabet_has_no_look_alikes_and_32_letters() -> None:
    assert len(set(ALPHABET)) == 32
    assert not set("01OI") & set(ALPHABET)


def test_codes_are_ten_characters_of_50_bits_and_do_not_repeat() -> None:
    codes = {new_code() for _ in range(5000)}
    assert len(codes) == 5000
    assert all(len(c) == LENGTH and set(c) <= set(ALPHABET) for c in codes)
    # Every letter of the alphabet turns up, so no position is stuck on a subset.
    assert set("".join(codes)) == set(ALPHABET)


def test_typed_and_displayed_forms_normalise_to_the_code() -> None:
    code = new_code()
    shown = display_code(code)
    assert re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", shown)
    for typed in (shown, shown.lower(), f"  {code[:3]} {code[3:7]}-{code[7:]} ", code):
        assert normalize_code(typed) == code


@given(st.text(max_size=80))
def test_normalize_accepts_only_what_can_be_a_code(raw: str) -> None:
    result = normalize_code(raw)
    assert result is None or (len(result) == LENGTH and set(result) <= set(ALPHABET))


def test_impossible_codes_are_refused() -> None:
    for raw in ("", "ABCDE", "ABCDEFGHJK1", "0BCDEFGHJK", "OBCDEFGHJK", "ABCDEFGHJ!",
                "A" * 100, "ＡＢＣＤＥＦＧＨＪＫ"):
        assert normalize_code(raw) is None


def test_qr_code_is_inline_svg_with_no_external_reference() -> None:
    svg = qr_svg("ABCDE23456")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "href" not in svg and "http" not in svg.replace("http://www.w3.org", "")
