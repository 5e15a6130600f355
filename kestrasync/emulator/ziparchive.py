"""A ZIP of stored (uncompressed) entries, written directly.

zipfile.writestr costs about 20 µs an entry, a fifth of a second for an export of 10,000 flows, which
made the emulator the slowest part of a bulk read. Packing the headers here takes a few µs an entry, and
the length is known before the first byte, so an archive can be streamed without being assembled.
Archives that would need ZIP64 (65,535 entries or more, or 4 GiB) are left to zipfile.
"""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_VERSION = 20
_UTF8_NAMES = 0x800  # java.util.zip sets it on every entry when names are UTF-8, as Kestra's are
_ZIP64_ENTRIES, _ZIP64_BYTES = 0xFFFF, 0xFFFFFFFF


def stored_zip(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """The archive of `(name, content)` entries, in order."""
    return b"".join(stored_zip_stream(list(entries))[1])


def stored_zip_stream(entries: list[tuple[str, bytes]]) -> tuple[int, Iterator[bytes]]:
    """The archive's length and its parts, produced one entry at a time: contents are yielded as they are,
    never copied into one buffer (a namespace export can hold files of several MB)."""
    if len(entries) >= _ZIP64_ENTRIES or sum(len(data) + 2 * len(name) + 100 for name, data in entries) >= _ZIP64_BYTES:
        archive = _with_zipfile(entries)
        return len(archive), iter((archive,))
    names = [name.encode("utf-8") for name, _ in entries]
    directory_size = sum(_CENTRAL.size + len(name) for name in names)
    offset = sum(_LOCAL.size + len(name) + len(data) for name, (_, data) in zip(names, entries))
    return offset + directory_size + _END.size, _coalesced(_parts(names, [data for _, data in entries], offset, directory_size))


def _coalesced(parts: Iterator[bytes], size: int = 256 * 1024) -> Iterator[bytes]:
    """Small parts joined into chunks of about `size` (each part sent alone costs the server a write
    of its own: most of an export of small files); a large part goes on as it is, uncopied."""
    pending: list[bytes] = []
    held = 0
    for part in parts:
        if len(part) >= size:
            if pending:
                yield b"".join(pending)
                pending, held = [], 0
            yield part
            continue
        pending.append(part)
        held += len(part)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)


def _parts(names: list[bytes], contents: list[bytes], offset: int, directory_size: int) -> Iterator[bytes]:
    now = time.localtime()
    dos_time = now.tm_hour << 11 | now.tm_min << 5 | now.tm_sec // 2
    dos_date = (now.tm_year - 1980) << 9 | now.tm_mon << 5 | now.tm_mday
    central: list[bytes] = []
    position = 0
    for encoded, data in zip(names, contents):
        crc, size = zlib.crc32(data), len(data)
        header = _LOCAL.pack(0x04034B50, _VERSION, _UTF8_NAMES, 0, dos_time, dos_date, crc, size, size, len(encoded), 0)
        yield header + encoded
        yield data
        central += (
            _CENTRAL.pack(0x02014B50, _VERSION, _VERSION, _UTF8_NAMES, 0, dos_time, dos_date, crc, size, size,
                          len(encoded), 0, 0, 0, 0, 0, position),
            encoded,
        )
        position += len(header) + len(encoded) + size
    yield b"".join(central)
    yield _END.pack(0x06054B50, 0, 0, len(names), len(names), directory_size, offset, 0)


def _with_zipfile(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def read_entries(data: bytes) -> list[tuple[str, bytes]]:
    """The (name, content) entries of an uploaded ZIP, in order; ValueError when it is not one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [(_java_name(info), archive.read(info)) for info in archive.infolist()]
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(str(error)) from None


def _java_name(info: zipfile.ZipInfo) -> str:
    """An entry name as java.util.zip reads it: UTF-8 whether or not the entry says so (zipfile takes
    names without the UTF-8 flag as cp437)."""
    if info.flag_bits & _UTF8_NAMES:
        return info.filename
    return info.filename.encode("cp437").decode("utf-8", errors="replace")
