"""Bounded, pickle-free reading of untrusted `.npz` archives of `.npy` members (and JSON).

Only regular files are opened (a FIFO or device would block or never end). Every size that
the zip directory or a `.npy` header declares is checked against the ``MAX_*`` limits and
against the others before anything is inflated or allocated, and members are inflated in
bounded steps (a deflate stream can hold far more than its header declares). Every failure is
one `DemoFileError` naming the file and the problem.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import struct
import zipfile
from collections.abc import Callable, Collection
from typing import IO, Any

import numpy as np

__all__ = [
    "MAX_MEMBER_BYTES",
    "MAX_TOTAL_BYTES",
    "DemoFileError",
    "HeaderCheck",
    "parse_json_object",
    "read_archive",
]

# Size limits, all checked against the sizes that headers declare before anything is inflated.
MAX_MEMBER_BYTES = 1 << 30  # one member may inflate to at most 1 GiB (zip bombs)
MAX_TOTAL_BYTES = 2 << 30  # all members together may inflate to at most 2 GiB
MAX_DIRECTORY_BYTES = 1 << 17  # zip directory reads (8 members need < 2 KiB; comment 64 KiB)
MAX_NPY_HEADER_BYTES = 10_000  # numpy's own limit on a .npy header
MAX_METADATA_DEPTH = 32  # nesting of metadata JSON containers
_READ_CHUNK = 1 << 20  # inflate in bounded steps: a zip's declared size can lie

HeaderCheck = Callable[[str, str, tuple[int, ...], np.dtype[Any]], None]


class DemoFileError(ValueError):
    """A demo file is unreadable or invalid; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"demo file {self.path!r}: {problem}")


def _require_regular(path: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise DemoFileError(path, "is a directory, expected a .npz demo file")
    if not stat.S_ISREG(mode):
        kinds = [(stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device")]
        kinds += [(stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]
        kind = next((k for test, k in kinds if test(mode)), "a special file")
        raise DemoFileError(path, f"is {kind}, not a regular file: expected a .npz demo file")


class _GuardedFile(io.FileIO):
    """Raw file whose single reads are refused beyond ``cap`` bytes while ``cap`` is set.

    zipfile reads the central directory in one call of the size the archive declares, then
    builds one object per entry; capping reads while it parses bounds both.
    """

    cap: int | None = None
    path = ""

    def read(self, size: int | None = -1, /) -> bytes:
        """Read like `io.FileIO.read`, refusing reads beyond ``cap`` bytes while it is set."""
        if self.cap is not None:
            left = os.fstat(self.fileno()).st_size - self.tell()
            want = size if size is not None and size >= 0 else left
            if want > self.cap:
                raise DemoFileError(self.path, f"zip directory of {want} bytes is too large")
        return super().read(size)


def _open_regular(path: str) -> _GuardedFile:
    """Open ``path`` for reading after checking it is a regular file (a FIFO would block)."""
    try:
        _require_regular(path, os.stat(path).st_mode)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise DemoFileError(path, "file not found") from None
    except OSError as e:
        raise DemoFileError(path, f"cannot be read ({e.strerror or e})") from e
    fh = _GuardedFile(fd, "r", closefd=True)
    fh.path = path
    try:
        _require_regular(path, os.fstat(fd).st_mode)  # it may have been replaced since
    except BaseException:
        fh.close()
        raise
    return fh


def _check_members(
    path: str, infos: list[zipfile.ZipInfo], size: int, names: Collection[str]
) -> dict[str, zipfile.ZipInfo]:
    """Map array name -> ZipInfo, refusing unknown, duplicate and oversized members."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename.removesuffix(".npy")
        if name == info.filename or name not in names:
            raise DemoFileError(path, f"unexpected archive member {info.filename!r}")
        if name in members:
            raise DemoFileError(path, f"duplicate archive member {info.filename!r}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise DemoFileError(
                path,
                f"archive member {info.filename!r} has an unsupported "
                f"compression method {info.compress_type}",
            )
        if info.file_size > MAX_MEMBER_BYTES or info.compress_size > size:
            raise DemoFileError(
                path, f"archive member {info.filename!r} is too large (corrupt, or a zip bomb)"
            )
        members[name] = info
    total = sum(info.file_size for info in members.values())
    if total > MAX_TOTAL_BYTES:
        raise DemoFileError(
            path,
            f"archive members inflate to {total} bytes in all, over the limit of "
            f"{MAX_TOTAL_BYTES} (corrupt, or a zip bomb)",
        )
    return members


def _read_exact(path: str, name: str, fh: IO[bytes], n: int) -> bytearray:
    """Read exactly ``n`` bytes in bounded chunks (each inflate step is bounded too)."""
    buf = bytearray(n)
    got = 0
    while got < n:
        chunk = fh.read(min(n - got, _READ_CHUNK))
        if not chunk:
            raise DemoFileError(path, f"array {name!r} is truncated or corrupt")
        buf[got : got + len(chunk)] = chunk
        got += len(chunk)
    return buf


def _read_npy(
    path: str, name: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo, check_header: HeaderCheck
) -> np.ndarray:
    """Parse one `.npy` member without pickle: header first, sizes checked, then the payload."""
    with zf.open(info) as fh:
        head = bytes(_read_exact(path, name, fh, 10))
        if head[:6] != np.lib.format.MAGIC_PREFIX or head[6:8] not in (b"\x01\x00", b"\x02\x00"):
            raise DemoFileError(path, f"array {name!r} is not a supported .npy array")
        if head[6] == 2:
            head += _read_exact(path, name, fh, 2)
        hlen = struct.unpack("<H" if head[6] == 1 else "<I", head[8:])[0]
        if hlen > min(MAX_NPY_HEADER_BYTES, info.file_size - len(head)):
            raise DemoFileError(path, f"array {name!r} has a corrupt .npy header ({hlen} bytes)")
        f = io.BytesIO(head + _read_exact(path, name, fh, hlen))
        np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0
        if head[6] == 2:
            read_header = np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject:
            raise DemoFileError(path, f"array {name!r} is an object array (refused: no pickle)")
        if any(s < 0 for s in shape):
            raise DemoFileError(path, f"array {name!r} has a negative dimension {shape}")
        check_header(path, name, shape, dtype)
        count, left = math.prod(shape), info.file_size - f.tell()
        if count * dtype.itemsize != left:
            raise DemoFileError(
                path,
                f"array {name!r} is truncated or corrupt: header says shape {shape} "
                f"({count * dtype.itemsize} bytes) but {left} bytes follow",
            )
        data = _read_exact(path, name, fh, left)
        if fh.read(1):  # also completes the CRC-32 check of the member
            raise DemoFileError(path, f"array {name!r} is longer than its header says")
    flat = np.frombuffer(data, dtype=dtype, count=count)
    return flat.reshape(shape, order="F" if fortran else "C")


def read_archive(
    path: str,
    names: Collection[str],
    check_header: HeaderCheck,
    skip: Collection[str] = (),
) -> dict[str, np.ndarray]:
    """Read the ``NAME.npy`` members of a `.npz` (only ``names``, each once) as arrays.

    ``check_header(path, name, shape, dtype)`` vets each declared header before its payload is
    read; members named in ``skip`` are allowed but never read (e.g. pickled object arrays).
    Any failure becomes one `DemoFileError` naming the file and the problem.
    """
    fh = _open_regular(path)
    try:
        with fh:
            fh.cap = MAX_DIRECTORY_BYTES
            with zipfile.ZipFile(fh) as zf:
                fh.cap = None
                size = os.fstat(fh.fileno()).st_size
                members = _check_members(path, zf.infolist(), size, names)
                return {
                    n: _read_npy(path, n, zf, i, check_header)
                    for n, i in members.items()
                    if n not in skip
                }
    except DemoFileError:
        raise
    except Exception as e:  # zipfile/zlib/numpy raise many types on damaged input
        raise DemoFileError(path, f"truncated or corrupt archive ({type(e).__name__}: {e})") from e


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value (iterative: never recurses)."""
    depth, level = 0, [value]
    while level and depth <= MAX_METADATA_DEPTH:
        depth += 1
        level = [
            v
            for x in level
            if isinstance(x, (dict, list))
            for v in (x.values() if isinstance(x, dict) else x)
        ]
    return depth


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} (NaN/Infinity are not JSON)")


def parse_json_object(path: str, text: str) -> dict[str, Any]:
    """Parse untrusted metadata JSON: an object, no NaN/Infinity, bounded nesting."""
    try:
        meta = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise DemoFileError(path, "metadata JSON is nested too deeply") from None
    except ValueError as e:
        raise DemoFileError(path, f"metadata is not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise DemoFileError(path, "metadata is not a JSON object")
    if _depth(meta) > MAX_METADATA_DEPTH:
        raise DemoFileError(path, f"metadata JSON is nested too deeply (> {MAX_METADATA_DEPTH})")
    return meta
