"""Praat TextGrids: round trip, pauses as empty intervals, other tools' tier names, errors."""

from __future__ import annotations

import pytest

from facetalk.errors import InvalidInputError
from facetalk.text.textgrid import read_textgrid, write_textgrid
from facetalk.types import Alignment, Phone, Word

ALIGNMENT = Alignment(
    (Word("hello", 0.1, 0.45), Word("world", 0.6, 1.0)),
    (
        Phone("SIL", 0.0, 0.1), Phone("HH", 0.1, 0.16), Phone("AH0", 0.16, 0.22), Phone("L", 0.22, 0.3),
        Phone("OW1", 0.3, 0.45), Phone("SIL", 0.45, 0.6), Phone("W", 0.6, 0.68), Phone("ER1", 0.68, 0.82),
        Phone("L", 0.82, 0.9), Phone("D", 0.9, 1.0), Phone("SIL", 1.0, 1.2),
    ),
)  # fmt: skip

FOREIGN = """File type = "ooTextFile"
Object class = "TextGrid"

0
1
<exists>
3
"IntervalTier"
"ORT"
0
1
2
0
0.5
"yes"
0.5
1
""
"TextTier"
"marks"
0
1
0
"IntervalTier"
"MAU"
0
1
4
0
0.1
"sil"
0.1
0.3
"y"
0.3
0.45
"eh1"
0.45
1
"s"
"""


def test_round_trip(tmp_path):
    path = write_textgrid(ALIGNMENT, tmp_path / "a.TextGrid")
    assert read_textgrid(path) == ALIGNMENT
    assert [p.name for p in tmp_path.iterdir()] == ["a.TextGrid"]  # atomic: no temporary left behind


def test_pauses_are_empty_intervals(tmp_path):
    text = write_textgrid(ALIGNMENT, tmp_path / "a.TextGrid", duration=1.5).read_text()
    assert 'name = "words"' in text and 'name = "phones"' in text
    assert "SIL" not in text and text.count('text = ""') == 3 + 3  # words: 3 gaps; phones: 3 pauses
    assert read_textgrid(tmp_path / "a.TextGrid").phones[-1] == Phone("SIL", 1.0, 1.5)


def test_other_tools_tier_names(tmp_path):
    (tmp_path / "other.TextGrid").write_text(FOREIGN)
    alignment = read_textgrid(tmp_path / "other.TextGrid")
    assert alignment.words == (Word("yes", 0.0, 0.5),)
    assert [p.label for p in alignment.phones] == ["SIL", "Y", "EH1", "S"]


def test_errors_name_the_file(tmp_path):
    with pytest.raises(InvalidInputError, match=r"missing\.TextGrid"):
        read_textgrid(tmp_path / "missing.TextGrid")
    (tmp_path / "bad.TextGrid").write_text("not a textgrid at all")
    with pytest.raises(InvalidInputError, match=r"bad\.TextGrid") as info:
        read_textgrid(tmp_path / "bad.TextGrid")
    assert "\n" not in str(info.value)
    (tmp_path / "labels.TextGrid").write_text(FOREIGN.replace('"MAU"', '"phones"').replace('"y"', '"ʝ"'))
    with pytest.raises(InvalidInputError, match=r"labels\.TextGrid.*not ARPAbet"):
        read_textgrid(tmp_path / "labels.TextGrid")
