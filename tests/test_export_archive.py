"""The client's reading of Kestra's export ZIP, for the archives the emulator does not write: Kestra
deflates its entries (java.util.zip), and 65,535 flows or more make a ZIP64 archive."""

from __future__ import annotations

import io
import zipfile

import pytest

from kestrasync.archive import Refused, zip_entries

MiB = 1 << 20


def _archive(entries, compression) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("count, compression", [(3, zipfile.ZIP_DEFLATED), (0xFFFF, zipfile.ZIP_STORED)])
def test_deflated_and_zip64_exports_are_read(count, compression):
    entries = [(f"company-flow{n:05d}.yml", f"id: flow{n:05d}\nnamespace: company\n# é {n}\n".encode()) for n in range(count)]
    assert list(zip_entries(_archive(entries, compression), MiB, 64 * MiB)) == entries


def test_a_damaged_member_is_refused():
    data = bytearray(_archive([("company-a.yml", b"id: a\nnamespace: company\n")], zipfile.ZIP_STORED))
    data[data.index(b"id: a")] = ord("I")
    with pytest.raises(zipfile.BadZipFile, match="CRC mismatch"):
        list(zip_entries(bytes(data), MiB, MiB))


def test_a_zip_bomb_is_refused_before_it_inflates():
    """A member of 1 GiB of zeros is a megabyte deflated: inflating stops at the limit."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("company-bomb.yml", "w", force_zip64=True) as member:
            for _ in range(1024):
                member.write(bytes(MiB))
    bomb = buffer.getvalue()
    assert len(bomb) < 2 * MiB
    with pytest.raises(Refused, match="member company-bomb.yml inflates to more than 16,777,216 bytes"):
        list(zip_entries(bomb, 16 * MiB, 64 * MiB))
    many = _archive([(f"company-f{n}.yml", bytes(MiB)) for n in range(8)], zipfile.ZIP_DEFLATED)
    with pytest.raises(Refused, match="its members inflate to more than 4,194,304 bytes"):
        list(zip_entries(many, 2 * MiB, 4 * MiB))
