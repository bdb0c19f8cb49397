"""The IDX file format (LeCun's MNIST format), read defensively and written for tests and users.

A header is untrusted input: it may claim billions of items. We never allocate from
it; we check the sizes it declares against the bytes actually present (whose amount
the caller already bounded while decompressing) and return a zero-copy view.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib

import numpy as np

from mnist_pipeline.errors import DataError

DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
CODES = {dtype.newbyteorder(">") if dtype.itemsize > 1 else dtype: code for code, dtype in DTYPES.items()}


class IdxError(DataError):
    """A file is not valid IDX (or not valid gzip around it)."""


def gunzip(data: bytes, *, name: str, max_bytes: int) -> bytes:
    """Decompress gzip data, refusing more than `max_bytes` of output (a gzip bomb) or a truncated stream."""
    out = bytearray()
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(rest, max_bytes - len(out) + 1)
        except zlib.error as error:
            raise IdxError(f"{name}: not a valid gzip file ({error})") from None
        if len(out) > max_bytes or inflater.unconsumed_tail:
            raise IdxError(f"{name}: decompresses to more than {max_bytes} bytes, the most this dataset can hold")
        if not inflater.eof:
            raise IdxError(f"{name}: gzip data is truncated (the download or copy was cut short)")
        rest = inflater.unused_data
    return bytes(out)


def read_idx(data: bytes, *, name: str) -> np.ndarray:
    """Parse IDX bytes into a read-only array view, checking magic number, dimensions and size."""
    if len(data) < 4:
        raise IdxError(f"{name}: too short to be an IDX file ({len(data)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in DTYPES or ndim == 0:
        raise IdxError(f"{name}: bad IDX magic number 0x{data[:4].hex()} (expected 0x000008NN for unsigned bytes)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{name}: IDX header truncated: {ndim} dimensions need {header} bytes, file has {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    actual = len(data) - header
    if expected != actual:
        raise IdxError(
            f"{name}: IDX header declares shape {dims} ({expected} bytes of data) but the file holds {actual} bytes"
        )
    try:
        return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    except ValueError as error:  # e.g. more dimensions than NumPy supports
        raise IdxError(f"{name}: IDX shape {dims} cannot be represented ({error})") from None


def write_idx(array: np.ndarray) -> bytes:
    """Encode an array as IDX (big-endian, as the format requires)."""
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if dtype not in CODES:
        raise ValueError(f"IDX cannot store {array.dtype}")
    header = struct.pack(f">HBB{array.ndim}I", 0, CODES[dtype], array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write_idx_gz(array: np.ndarray) -> bytes:
    """IDX wrapped in gzip the way the MNIST mirrors ship it, with a fixed mtime for stable bytes."""
    return gzip.compress(write_idx(array), mtime=0)
