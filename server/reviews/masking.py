"""Masking NIKs and KK numbers on the review pages (UU PDP): every run of 16 digits in what
a page shows reads as its region prefix and last four digits, unless revealed."""

from __future__ import annotations

import re

_SIXTEEN = re.compile(r"(?<![0-9])([0-9]{6})[0-9]{6}([0-9]{4})(?![0-9])")


def mask(text: object) -> str:
    """'3573041203850001' -> '357304******0001', wherever such a number appears in text."""
    return _SIXTEEN.sub(r"\1******\2", "" if text is None else str(text))


def shown(text: object, revealed: bool) -> str:
    """The text as this page may show it."""
    return ("" if text is None else str(text)) if revealed else mask(text)
