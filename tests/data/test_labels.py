"""The class-names file: what the one writer writes, the one reader reads back, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_pipeline.data.labels import read_labels, write_labels
from mnist_pipeline.errors import DataError

NAMES = ("T-shirt/top", "Ärmel", "靴", "Ankle boot")


def test_names_round_trip_as_utf8_one_per_line(tmp_path: Path) -> None:
    write_labels(tmp_path / "labels.txt", NAMES)
    assert (tmp_path / "labels.txt").read_bytes() == "T-shirt/top\nÄrmel\n靴\nAnkle boot\n".encode()
    assert read_labels(tmp_path / "labels.txt") == NAMES


@pytest.mark.parametrize(
    "content",
    [b"a\nb\n", b"a\nb", b"  a \r\nb\t\n", b"a\nb\n\n  \n"],
    ids=["plain", "no-final-newline", "spaces-and-crlf", "trailing-blank-lines"],
)
def test_what_editors_write_is_read_the_same(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "labels.txt").write_bytes(content)
    assert read_labels(tmp_path / "labels.txt") == ("a", "b")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"zero\none\n\xe9t\xe9\n", r"line 3 is not UTF-8 \(byte 0xe9\)"),
        (b"zero\n\none\n", "line 2 is blank"),
        (b"\n \n", "no class names in it"),
    ],
    ids=["latin-1-byte", "blank-line-between-names", "only-blank-lines"],
)
def test_a_bad_file_is_one_line_naming_the_file_and_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        read_labels(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_a_missing_file_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"labels.txt is missing; run the pipeline first \(dvc repro\)"):
        read_labels(tmp_path / "labels.txt")
