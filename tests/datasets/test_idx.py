import gzip
import struct

import numpy as np
import pytest

from kwm.datasets import IDXFormatError, read_idx, write_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32"])
def test_round_trip(tmp_path, suffix, dtype):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    if dtype == "uint8":
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / f"a-idx3-ubyte{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_reads_the_original_header_layout(tmp_path):
    # Written by hand as the MNIST page specifies: 0x00000803, then sizes, big-endian.
    payload = struct.pack(">BBBB3I", 0, 0, 0x08, 3, 2, 2, 2) + bytes(range(8))
    path = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(payload)
    np.testing.assert_array_equal(read_idx(path), np.arange(8, dtype=np.uint8).reshape(2, 2, 2))


def test_gzip_output_is_reproducible(tmp_path):
    a, b = tmp_path / "a.gz", tmp_path / "b.gz"
    write_idx(a, np.ones((3, 3), np.uint8))
    write_idx(b, np.ones((3, 3), np.uint8))
    assert a.read_bytes() == b.read_bytes()


def test_truncated_file_is_an_error(tmp_path):
    path = tmp_path / "t-idx1-ubyte"
    path.write_bytes(struct.pack(">BBBBI", 0, 0, 0x08, 1, 10) + bytes(5))
    with pytest.raises(IDXFormatError, match="holds 5 bytes"):
        read_idx(path)


def test_not_idx_is_an_error(tmp_path):
    path = tmp_path / "t-idx1-ubyte"
    path.write_bytes(b"hello world")
    with pytest.raises(IDXFormatError, match="Received"):
        read_idx(path)
