"""The class-names file (`labels.txt`): its one writer and its one reader.

Download, prepare and export each write it, the stages and `predict` read it; they all
go through here so they agree on the format: UTF-8, one class name per line, line *i*
names label *i*. Names are stripped and trailing blank lines ignored; a blank line between
names would shift every later label, so it is refused, as is a byte that is not UTF-8
(a garbled name would otherwise flow silently into the model card and `predict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mnist_pipeline.artifacts import write_text
from mnist_pipeline.errors import DataError


def format_labels(names: Sequence[str]) -> str:
    """The file's text: one name per line, each line ended by a newline."""
    return "".join(f"{name}\n" for name in names)


def write_labels(path: str | Path, names: Sequence[str]) -> None:
    write_text(path, format_labels(names))


def parse_labels(content: bytes, source: str | Path) -> tuple[str, ...]:
    """The class names in `content`; a `DataError` naming `source` and the line if it is not a valid file."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        raise DataError(
            f"{source}: line {line} is not UTF-8 (byte 0x{content[error.start]:02x}); save the file as UTF-8"
        ) from None
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise DataError(f"{source}: no class names in it (expected one per line)")
    if "" in names:
        raise DataError(f"{source}: line {names.index('') + 1} is blank; put one class name on every line")
    return tuple(names)


def read_labels(path: str | Path) -> tuple[str, ...]:
    """The class names in the file at `path` (see `parse_labels`)."""
    try:
        content = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path} is missing; run the pipeline first (dvc repro)") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read class names ({error.strerror})") from None
    return parse_labels(content, path)
