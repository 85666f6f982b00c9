"""astropy.io.fits on the HST DRZ file: info, checksums, memmap/section cutouts, full reads, headers.

Each test compares what it reads under MASTFS_TEST_ROOT with the generated source and,
with a stand-in configured, bounds the bytes fetched from S3.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from clientenv import DRZ2_KEY, DRZ_KEY, sha256_of

MIB = 1 << 20
EXPECTED_HDUS = [  # (name, type, cards) as .info() lists them
    ("PRIMARY", "PrimaryHDU", 846),
    ("SCI", "ImageHDU", 81),
    ("WHT", "ImageHDU", 44),
    ("CTX", "ImageHDU", 37),
    ("HDRTAB", "BinTableHDU", 595),
]


@pytest.fixture(scope="module")
def source_sci(client_env):
    with fits.open(client_env.source_path(DRZ_KEY), memmap=False) as hdul:
        return hdul["SCI"].data.copy()


def image_bytes(data: np.ndarray) -> int:
    return data.size * data.dtype.itemsize


def test_info_lists_hdus_without_reading_data(client_env, standin, source_sci):
    path = client_env.path(DRZ_KEY)
    with fits.open(path) as hdul:
        rows = hdul.info(output=False)
    got = [(r[1], r[3], r[4]) for r in rows]
    assert got == EXPECTED_HDUS, f"info() HDUs: expected {EXPECTED_HDUS}, got {got}"
    ny, nx = source_sci.shape
    assert rows[1][5] == (nx, ny) and rows[1][6] == "float32", f"SCI: expected ({nx}, {ny}) float32, got {rows[1][5:7]}"
    assert rows[3][6] == "int32", f"CTX format: expected int32, got {rows[3][6]}"
    assert rows[4][5] == "10R x 292C", f"HDRTAB: expected 10R x 292C, got {rows[4][5]}"
    file_size = path.stat().st_size
    # Only headers are needed; fetching a quarter of one image means data was read.
    limit = image_bytes(source_sci) // 4 if client_env.full else file_size
    standin.assert_at_most("fits.open().info()", bytes_fetched=limit)


def test_checksums_verify(client_env, standin):
    path = client_env.path(DRZ_KEY)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fits.open(path, checksum=True) as hdul:
            hdul.readall()
            names = [hdu.name for hdu in hdul]
            for hdu in hdul:
                assert "CHECKSUM" in hdu.header and "DATASUM" in hdu.header, f"{hdu.name}: no CHECKSUM/DATASUM cards"
                _ = hdu.data  # datasum is verified against the data as it is read
    assert names == ["PRIMARY", "SCI", "WHT", "CTX", "HDRTAB"], f"HDUs: got {names}"
    problems = [
        str(w.message) for w in caught if "checksum" in str(w.message).lower() or "datasum" in str(w.message).lower()
    ]
    assert not problems, f"checksum verification: expected no warnings, got {problems}"
    standin.assert_at_most("fits.open(checksum=True)", bytes_fetched=path.stat().st_size)


def test_memmap_cutout_matches_source(client_env, standin, source_sci):
    rows, cols = client_env.cutout(source_sci.shape)
    with fits.open(client_env.path(DRZ_KEY), memmap=True) as hdul:
        cutout = np.array(hdul["SCI"].data[rows, cols])
    expected = source_sci[rows, cols]
    assert cutout.shape == (100, 100), f"cutout shape: expected (100, 100), got {cutout.shape}"
    assert np.count_nonzero(expected) > 0, "source cutout is all zeros; pick another region"
    mismatches = np.count_nonzero(cutout != expected)
    assert mismatches == 0, f"memmap cutout {rows}, {cols}: {mismatches} of 10000 pixels differ from the source"
    limit = 4 * MIB if client_env.full else client_env.path(DRZ_KEY).stat().st_size
    standin.assert_at_most("100x100 memmap cutout", bytes_fetched=limit)


def test_section_cutout_matches_source(client_env, standin, source_sci):
    rows, cols = client_env.cutout(source_sci.shape)
    with fits.open(client_env.path(DRZ_KEY)) as hdul:
        cutout = hdul["SCI"].section[rows, cols]
    mismatches = np.count_nonzero(cutout != source_sci[rows, cols])
    assert cutout.shape == (100, 100) and mismatches == 0, (
        f".section cutout: expected (100, 100) equal to source, got {cutout.shape} with {mismatches} differing pixels"
    )
    limit = 4 * MIB if client_env.full else client_env.path(DRZ_KEY).stat().st_size
    standin.assert_at_most("100x100 .section cutout", bytes_fetched=limit)


def test_full_sci_read_without_memmap(client_env, standin, source_sci):
    path = client_env.path(DRZ_KEY)
    with fits.open(path, memmap=False) as hdul:
        data = hdul["SCI"].data
        assert data.shape == source_sci.shape, f"SCI shape: expected {source_sci.shape}, got {data.shape}"
        mismatches = np.count_nonzero(data != source_sci)
    assert mismatches == 0, f"full SCI read: {mismatches} pixels differ from the source"
    assert float(np.abs(source_sci).max()) > 1.0, "source SCI has no stars; generator broken?"
    # Reading SCI needs the headers and SCI's data only; never more than the file.
    standin.assert_at_most("full SCI read", bytes_fetched=path.stat().st_size)


def test_getheader_sci(client_env, standin):
    header = fits.getheader(client_env.path(DRZ_KEY), 1)
    source = fits.getheader(client_env.source_path(DRZ_KEY), 1)
    assert header.tostring() == source.tostring(), "getheader(p, 1) differs from the source header"
    assert header["EXTNAME"] == "SCI", f"EXTNAME: expected SCI, got {header['EXTNAME']}"
    wcs = WCS(header)
    assert wcs.has_celestial and wcs.wcs.ctype[0] == "RA---TAN", (
        f"WCS: expected celestial TAN, got {list(wcs.wcs.ctype)}"
    )
    sky = wcs.pixel_to_world(header["NAXIS1"] / 2, header["NAXIS2"] / 2)
    assert abs(sky.ra.deg - header["CRVAL1"]) < 1e-3 and abs(sky.dec.deg - header["CRVAL2"]) < 1e-3, (
        f"WCS centre: expected near ({header['CRVAL1']}, {header['CRVAL2']}), got ({sky.ra.deg}, {sky.dec.deg})"
    )
    primary = fits.getheader(client_env.path(DRZ_KEY), 0)
    expected = {
        "TELESCOP": "HST",
        "INSTRUME": "ACS",
        "DETECTOR": "WFC",
        "FILTER1": "F606W",
        "FILTER2": "CLEAR2L",
        "PROPOSID": 12062,
    }
    got = {k: primary.get(k) for k in expected}
    assert got == expected, f"primary keywords: expected {expected}, got {got}"
    standin.assert_at_most("getheader(p, 1)", bytes_fetched=4 * MIB if client_env.full else None)


@pytest.mark.parametrize("key", [DRZ_KEY, DRZ2_KEY])
def test_drz_bytes_match_manifest(client_env, standin, key):
    size, sha256 = client_env.manifest[key]
    path = client_env.path(key)
    assert path.stat().st_size == size, f"{key}: expected size {size}, got {path.stat().st_size}"
    assert sha256_of(path) == sha256, f"{key}: sha256 differs from MANIFEST.tsv ({sha256})"
    standin.assert_at_most(f"sequential read of {key}", bytes_fetched=size)
