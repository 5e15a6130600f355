"""ZIP archives held in memory (Kestra's exports), read member by member.

Members are sliced out of the bytes and inflated directly, their CRC checked: going through
zipfile costs several times more, which shows with 10,000 flows. zipfile reads the rarer ZIP64
archives (65,535 members or more).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator


class Refused(zipfile.BadZipFile):
    """An archive bigger than what its reader accepts (a ZIP bomb, or a server gone wrong)."""


# What reading a damaged or refused archive raises; callers turn it into a sentence about the answer.
DAMAGED = (zipfile.BadZipFile, zlib.error, struct.error)

_END_OF_DIRECTORY = struct.Struct("<4sHHHHIIH")
_DIRECTORY_ENTRY = struct.Struct("<4sHHHHHHIIIHHHHHII")
_UTF8_NAME = 0x800


def zip_entries(archive: bytes, max_member: int, max_total: int) -> Iterator[tuple[str, bytes]]:
    """(name, content) of each member of a ZIP held in memory; one of DAMAGED when it is damaged, or
    when a member inflates past `max_member` bytes or all of them past `max_total` (Refused):
    inflating stops there, whatever sizes the archive claims."""
    view = memoryview(archive)
    total = 0
    for name, offset, method, size, crc in _members(archive):
        name_length, extra_length = struct.unpack_from("<HH", archive, offset + 26)
        start = offset + 30 + name_length + extra_length
        raw = view[start : start + size]
        limit = min(max_member, max_total - total)
        if method == zipfile.ZIP_STORED:
            data = bytes(raw)
        elif method == zipfile.ZIP_DEFLATED:
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            data = inflater.decompress(raw, limit + 1)
        else:
            raise zipfile.BadZipFile(f"member {name} uses compression method {method}")
        if len(data) > limit:
            if limit == max_member:
                raise Refused(f"member {name} inflates to more than {max_member:,} bytes")
            raise Refused(f"its members inflate to more than {max_total:,} bytes")
        total += len(data)
        if zlib.crc32(data) != crc:
            raise zipfile.BadZipFile(f"member {name} is damaged (CRC mismatch)")
        yield name, data


def _members(archive: bytes) -> Iterator[tuple[str, int, int, int, int]]:
    """(name, local header offset, compression method, compressed size, CRC) of each member, read from
    the central directory."""
    end = archive.rfind(b"PK\x05\x06", max(0, len(archive) - 22 - 0xFFFF))
    if end < 0:
        raise zipfile.BadZipFile("File is not a zip file")
    _, _, _, _, count, _, position, _ = _END_OF_DIRECTORY.unpack_from(archive, end)
    if count == 0xFFFF or position == 0xFFFFFFFF:
        for info in zipfile.ZipFile(io.BytesIO(archive)).infolist():
            yield info.filename, info.header_offset, info.compress_type, info.compress_size, info.CRC
        return
    for _ in range(count):
        (signature, _, _, flags, method, _, _, crc, size, _, name_length, extra_length, comment_length, _, _, _,
         offset) = _DIRECTORY_ENTRY.unpack_from(archive, position)
        if signature != b"PK\x01\x02":
            raise zipfile.BadZipFile("the central directory is damaged")
        raw_name = archive[position + 46 : position + 46 + name_length]
        yield raw_name.decode("utf-8" if flags & _UTF8_NAME else "cp437"), offset, method, size, crc
        position += 46 + name_length + extra_length + comment_length
