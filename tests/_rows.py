"""Which rows of the shipped table were written by hand, and which by ``python -m mistral_lite.spec import``.

The import tool appends its rows in sections marked "(imported from the spec)"; every row above
the first such section was written by hand (the seed's 48 and the 19 added after it).
"""

from __future__ import annotations

import re
from pathlib import Path

import mistral_lite

MARK = "(imported from the spec)"
_ROW = re.compile(r"^\[endpoints\.(\w+)\]", re.M)


def _split() -> tuple[str, str]:
    text = (Path(mistral_lite.__file__).parent / "endpoints.toml").read_text(encoding="utf-8")
    hand, _, imported = text.partition(MARK)
    return hand, imported


def hand_made_rows() -> list[str]:
    return _ROW.findall(_split()[0])


def imported_rows() -> list[str]:
    return _ROW.findall(_split()[1])
