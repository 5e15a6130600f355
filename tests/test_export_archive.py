"""The client's reading of Kestra's export ZIP, for the archives the emulator does not write: Kestra
deflates its entries (java.util.zip), and 65,535 flows or more make a ZIP64 archive."""

from __future__ import annotations

import io
import zipfile

import pytest

from kestrasync.archive import zip_entries


def _archive(entries, compression) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("count, compression", [(3, zipfile.ZIP_DEFLATED), (0xFFFF, zipfile.ZIP_STORED)])
def test_deflated_and_zip64_exports_are_read(count, compression):
    entries = [(f"company-flow{n:05d}.yml", f"id: flow{n:05d}\nnamespace: company\n# é {n}\n".encode()) for n in range(count)]
    assert list(zip_entries(_archive(entries, compression))) == entries


def test_a_damaged_member_is_refused():
    data = bytearray(_archive([("company-a.yml", b"id: a\nnamespace: company\n")], zipfile.ZIP_STORED))
    data[data.index(b"id: a")] = ord("I")
    with pytest.raises(zipfile.BadZipFile, match="CRC mismatch"):
        list(zip_entries(bytes(data)))
