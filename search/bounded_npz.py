"""Reading ``.npz`` files with size limits checked before anything is inflated.

``numpy.load`` trusts the archive: a 4 MB member that deflates to gigabytes is inflated whole
(3.4 GB of memory before numpy noticed anything), and a ``.npy`` header that claims a 100 GiB
array makes numpy try to allocate it. Here every member is inspected first:

1. the zip directory: only ``.npy`` members, each declaring (``file_size``) at most
   ``max_entry_bytes`` and all together at most ``max_total_bytes`` — ``zipfile`` never returns
   more bytes than a member declares, and fails on a CRC mismatch, so a member that lies about
   its size cannot inflate past the limit either;
2. each member's ``.npy`` header (read from the first bytes of the stream): a plain dtype (no
   object arrays, so nothing could unpickle), and shape × itemsize equal to the bytes the member
   really holds after its header;

and only then is the array read. Every failure is one :class:`MnasPredError`.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np

from mnas_pred.errors import MnasPredError

#: ``.npy`` headers are a few hundred bytes; numpy's own default limit is 10 000.
MAX_HEADER_BYTES = 10_000


def read_npz(path: str | os.PathLike, *, max_entry_bytes: int, max_total_bytes: int, what: str, fix: str) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, refusing (before inflating) anything beyond the limits."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = 0
            for info in infos:
                if not info.filename.endswith(".npy") or info.is_dir():
                    raise MnasPredError(f"{what} holds '{info.filename[:60]}', not an array", fix)
                if info.file_size > max_entry_bytes:
                    raise MnasPredError(f"{what}: member '{info.filename[:60]}' would inflate to {info.file_size} bytes, "
                                        f"more than the {max_entry_bytes} allowed", fix)
                total += info.file_size
            if total > max_total_bytes:
                raise MnasPredError(f"{what} would inflate to {total} bytes, more than the {max_total_bytes} allowed", fix)
            return {info.filename[:-4]: _read_member(zf, info, what, fix) for info in infos}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError) as e:
        raise MnasPredError(f"{what} is damaged or not an .npz archive ({str(e).splitlines()[0][:100] if str(e) else type(e).__name__})", fix) from None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, what: str, fix: str) -> np.ndarray:
    where = f"{what}: array '{info.filename[:60]}'"
    with zf.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=MAX_HEADER_BYTES)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=MAX_HEADER_BYTES)
            else:
                raise ValueError(f"unknown .npy version {version}")
        except (ValueError, SyntaxError, TypeError) as e:
            raise MnasPredError(f"{where} has a bad header ({str(e).splitlines()[0][:80]})", fix) from None
        if dtype.hasobject:
            raise MnasPredError(f"{where} holds Python objects, which are never loaded (no pickle)", fix)
        header_bytes = f.tell()
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes != info.file_size - header_bytes:
            raise MnasPredError(f"{where}: its header claims {nbytes} bytes of data, the member holds "
                                f"{info.file_size - header_bytes}", fix)
        data = f.read(nbytes)
    if len(data) != nbytes:
        raise MnasPredError(f"{where} is truncated", fix)
    array = np.frombuffer(bytearray(data), dtype=dtype)  # writable, as np.load's arrays are
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
