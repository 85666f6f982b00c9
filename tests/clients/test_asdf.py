"""asdf and roman_datamodels on the Roman WFI L2 files: metadata only, full data, memmap cutout, lz4."""

from __future__ import annotations

import asdf
import numpy as np
import pytest
import roman_datamodels as rdm

from clientenv import L2_KEY, L2_LZ4_KEY, sha256_of

MIB = 1 << 20


@pytest.fixture(scope="module")
def source_data(client_env):
    with asdf.open(client_env.source_path(L2_KEY), memmap=False, lazy_load=False) as af:
        return {name: np.array(af["roman"][name]) for name in ("data", "dq")}


def data_bytes(array: np.ndarray) -> int:
    return array.size * array.dtype.itemsize


def test_meta_only_reads_little(client_env, standin, source_data):
    path = client_env.path(L2_KEY)
    with rdm.open(path) as model:
        meta = model.meta
        got = (
            str(meta.instrument.detector),
            str(meta.instrument.optical_element),
            str(meta.filename),
            str(meta.telescope),
        )
    expected = ("WFI01", "F158", path.name, "ROMAN")
    assert got == expected, f"meta (detector, filter, filename, telescope): expected {expected}, got {got}"
    limit = data_bytes(source_data["data"]) // 4 if client_env.full else path.stat().st_size
    standin.assert_at_most("roman_datamodels meta only", bytes_fetched=limit)


def test_full_data_matches_source(client_env, standin, source_data):
    path = client_env.path(L2_KEY)
    with rdm.open(path) as model:
        data = np.array(model.data)
        dq = np.array(model.dq)
    for name, got in (("data", data), ("dq", dq)):
        expected = source_data[name]
        assert got.shape == expected.shape and got.dtype == expected.dtype, (
            f"{name}: expected {expected.shape} {expected.dtype}, got {got.shape} {got.dtype}"
        )
        mismatches = np.count_nonzero(got != expected)
        assert mismatches == 0, f"{name}: {mismatches} elements differ from the source"
    standin.assert_at_most("roman_datamodels full data", bytes_fetched=path.stat().st_size)


def test_memmap_cutout_matches_source(client_env, standin, source_data):
    path = client_env.path(L2_KEY)
    rows, cols = client_env.cutout(source_data["data"].shape)
    with asdf.open(path, memmap=True) as af:
        array = af["roman"]["data"]
        assert isinstance(array.base, np.memmap) or isinstance(array, np.memmap), (
            f"expected a memory-mapped array, got {type(array)} with base {type(array.base)}"
        )
        cutout = np.array(array[rows, cols])
    expected = source_data["data"][rows, cols]
    mismatches = np.count_nonzero(cutout != expected)
    assert cutout.shape == (100, 100) and mismatches == 0, (
        f"memmap cutout {rows}, {cols}: expected (100, 100) equal to source, got {cutout.shape}, {mismatches} differ"
    )
    with rdm.open(path, memmap=True) as model:
        mismatches = np.count_nonzero(np.array(model.data[rows, cols]) != expected)
    assert mismatches == 0, f"roman_datamodels memmap cutout: {mismatches} of 10000 pixels differ"
    # A few MiB, not the 64 MiB array: the head and block index, the blocks under the rows
    # (two or three), and up to one block the near window fetched past the rows' end.
    limit = 5 * MIB if client_env.full else path.stat().st_size
    standin.assert_at_most("100x100 ASDF memmap cutout", bytes_fetched=limit)


def test_lz4_file_decompresses_to_source(client_env, standin, source_data):
    path = client_env.path(L2_LZ4_KEY)
    with asdf.open(path) as af:
        compression = af.get_array_compression(af["roman"]["data"])
        data = np.array(af["roman"]["data"])
    assert compression == "lz4", f"data block compression: expected lz4, got {compression!r}"
    mismatches = np.count_nonzero(data != source_data["data"])
    assert mismatches == 0, f"lz4 data: {mismatches} elements differ from the uncompressed source"
    with rdm.open(path) as model:
        got = (str(model.meta.filename), model.dq.shape)
    assert got == (path.name, source_data["dq"].shape), f"lz4 model (filename, dq shape): got {got}"
    standin.assert_at_most("lz4 ASDF read", bytes_fetched=path.stat().st_size)


@pytest.mark.parametrize("key", [L2_KEY, L2_LZ4_KEY])
def test_l2_bytes_match_manifest(client_env, standin, key):
    size, sha256 = client_env.manifest[key]
    path = client_env.path(key)
    assert path.stat().st_size == size, f"{key}: expected size {size}, got {path.stat().st_size}"
    assert sha256_of(path) == sha256, f"{key}: sha256 differs from MANIFEST.tsv ({sha256})"
    standin.assert_at_most(f"sequential read of {key}", bytes_fetched=size)
