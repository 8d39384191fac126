"""Reader and writer for the IDX format of MNIST and Fashion-MNIST.

IDX is the original distribution format of both datasets (LeCun et al.'s
MNIST page): a big-endian header of two zero bytes,
a type byte, a dimension count, one 32-bit size per dimension, then the
data. Files are usually gzip-compressed (`*-ubyte.gz`).
"""

import gzip
import os
import struct

import numpy as np

_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}


class IDXFormatError(ValueError):
    """An IDX file whose header or size is not what the format requires."""


def _open(path):
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_idx(path):
    """Reads an IDX file (optionally gzip-compressed) into a NumPy array.

    Args:
        path: str. Path of a `*-idx?-ubyte` or `*-idx?-ubyte.gz` file.

    Returns:
        A NumPy array in native byte order with the shape in the header.

    Examples:

    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x-idx1-ubyte.gz")
    >>> write_idx(path, np.arange(3, dtype=np.uint8))
    >>> read_idx(path)
    array([0, 1, 2], dtype=uint8)
    """
    path = os.fspath(path)
    try:
        with _open(path) as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise IDXFormatError(
            f"Could not read the IDX file {path}: {e}. Received: path={path!r}"
        ) from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            "An IDX file starts with two zero bytes, a type code and a "
            f"dimension count. Received: path={path!r}, header={data[:4]!r}"
        )
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise IDXFormatError(
            f"Unknown IDX type code 0x{code:02x} in {path}. "
            f"Received: type_code=0x{code:02x}"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(
            f"The IDX header of {path} is truncated. Received: {len(data)} bytes"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise IDXFormatError(
            f"The IDX file {path} declares shape {shape} ({expected} bytes of "
            f"data) but holds {len(data) - header} bytes. "
            f"Received: path={path!r}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Writes a NumPy array as an IDX file, gzip-compressed if `path` ends in `.gz`.

    Args:
        path: str. Destination path.
        array: array-like. Data of a type IDX supports (uint8, int8, int16,
            int32, float32, float64).

    Examples:

    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "y-idx1-ubyte")
    >>> write_idx(path, np.array([7, 2], dtype=np.uint8))
    >>> read_idx(path).tolist()
    [7, 2]
    """
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(
            "IDX stores uint8, int8, int16, int32, float32 or float64 data. "
            f"Received: dtype={array.dtype}"
        )
    code = _CODES[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + array.astype(_DTYPES[code]).tobytes()
    path = os.fspath(path)
    if path.endswith(".gz"):
        # mtime=0 keeps the file bytes, and so its SHA-256, reproducible.
        with open(path, "wb") as raw, gzip.GzipFile(
            filename="", fileobj=raw, mode="wb", mtime=0
        ) as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)
