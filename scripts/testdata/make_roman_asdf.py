#!/usr/bin/env python3
"""Deterministic Roman WFI Level 2 (calibrated) ImageModel ASDF files.

Writes two files into OUT_DIR:

  r0003201001001001004_0001_wfi01_f158_cal.asdf
      uncompressed binary blocks followed by the block index, the way romanisim
      writes its simulated L2 images;
  r0003201001001001004_0001_wfi01_f158_cal_lz4.asdf
      the same model saved by roman_datamodels' own DataModel.save(), which
      lz4-compresses every array block by default.

The model comes from ImageModel.create_fake_data() (valid against the pinned
rad schemas) with realistic metadata, and its arrays are replaced by seeded
content of the shapes a real L2 file has: 4088x4088 science pixels
(data float32, dq/dq2 uint32, err/var_poisson/var_rnoise/chisq/dumo float16)
and the 4096-pixel reference-pixel cubes. --small uses a 512-pixel detector.

roman_datamodels stamps meta.file_date with the current time on every save;
that is pinned to FILE_DATE here so that two runs produce identical bytes
(the script checks the written file_date to catch a library change that
would break this). asdf's list of the extensions it used is put in a stable
order (asdf_determinism.py), and the script re-runs itself with
PYTHONHASHSEED=0 so that no other set order can vary.

Usage: make_roman_asdf.py OUT_DIR [--small] [--seed N]
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and os.environ.get("PYTHONHASHSEED") != "0":
    # No set iteration order may depend on the hash seed (see the docstring).
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

import argparse
import contextlib
import hashlib
import time

import asdf
import numpy as np
from astropy.time import Time

import roman_datamodels.datamodels as rdd
import roman_datamodels.datamodels._core as rdm_core  # only to pin the save timestamp
from asdf_determinism import stable_extension_history
from starfield import add_sources

BASENAME = "r0003201001001001004_0001_wfi01_f158"
FILE_DATE = "2025-06-01T00:00:00.000"
NRESULTANTS = 6
DETECTOR_FULL = 4096
DETECTOR_SMALL = 512
BORDER = 4


class _FixedTime(Time):
    """astropy Time whose now() is FILE_DATE, so saved files carry a stable file_date."""

    @classmethod
    def now(cls):  # noqa: D102 - same meaning as Time.now
        return Time(FILE_DATE, format="isot", scale="utc")


@contextlib.contextmanager
def pinned_save_time():
    original = rdm_core.Time
    rdm_core.Time = _FixedTime
    try:
        yield
    finally:
        rdm_core.Time = original


def utc(text: str) -> Time:
    return Time(text, format="isot", scale="utc")


def fill_meta(model, seed_rng: np.random.Generator) -> None:
    """Realistic metadata for program 32, visit 4, exposure 1, WFI01, F158."""
    meta = model.meta
    start = utc("2027-03-14T06:27:19.000")
    exposure_time = 139.8
    meta.calibration_software_name = "RomanCAL"
    meta.calibration_software_version = "0.19.0"
    meta.product_type = "l2"
    meta.prd_version = "8.8.8"
    meta.sdf_software_version = "7.7.7"
    meta.exposure.start_time = start
    meta.exposure.end_time = utc("2027-03-14T06:29:38.800")
    meta.exposure.exposure_time = exposure_time
    meta.exposure.effective_exposure_time = exposure_time
    meta.exposure.frame_time = 3.04
    meta.exposure.nresultants = NRESULTANTS
    meta.exposure.ma_table_name = "C2A_IMG_HLWAS"
    meta.exposure.ma_table_number = 1
    meta.exposure.read_pattern = [
        [1],
        [2, 3],
        [4, 5, 6, 7],
        [8, 9, 10, 11],
        [12, 13, 14, 15, 16, 17],
        [18, 19, 20, 21, 22, 23, 24, 25],
    ]
    meta.exposure.data_problem = "none"
    meta.exposure.engineering_quality = "OK"
    meta.instrument.detector = "WFI01"
    meta.instrument.optical_element = "F158"
    obs = meta.observation
    obs.program = 32
    obs.execution_plan = 1
    setattr(obs, "pass", 1)  # a Python keyword, so no attribute syntax
    obs.segment = 1
    obs.observation = 1
    obs.visit = 4
    obs.visit_file_group = 0
    obs.visit_file_sequence = 0
    obs.visit_file_activity = "01"
    obs.exposure = 1
    obs.observation_id = "0003201001001001004"
    obs.visit_id = "0003201001001001004"
    ra, dec = 80.0 + float(seed_rng.uniform(0, 1)), -30.0 - float(seed_rng.uniform(0, 1))
    meta.pointing.target_ra = ra
    meta.pointing.target_dec = dec
    meta.pointing.ra_v1 = ra + 0.1
    meta.pointing.dec_v1 = dec - 0.1
    meta.pointing.pa_v3 = 60.0
    meta.pointing.pa_aperture = 0.0
    meta.pointing.target_aperture = "WFI_CEN"
    meta.program.title = "mastfs synthetic Roman WFI L2 test image"
    meta.program.investigator_name = "mastfs test data"
    meta.program.category = "CAL"
    meta.program.subcategory = "None"
    meta.program.science_category = "None"
    meta.wcsinfo.ra_ref = ra
    meta.wcsinfo.dec_ref = dec
    meta.wcsinfo.roll_ref = 60.0
    meta.wcsinfo.v2_ref = -1312.9491
    meta.wcsinfo.v3_ref = -1040.7847
    meta.wcsinfo.v3yangle = -60.0
    meta.wcsinfo.s_region = (
        f"POLYGON ICRS {ra - 0.06:.6f} {dec - 0.06:.6f} {ra + 0.06:.6f} {dec - 0.06:.6f} "
        f"{ra + 0.06:.6f} {dec + 0.06:.6f} {ra - 0.06:.6f} {dec + 0.06:.6f}"
    )
    meta.photometry.conversion_megajanskys = 0.3287
    meta.photometry.conversion_megajanskys_uncertainty = 0.0129
    meta.photometry.pixel_area = 2.8083389953727505e-13
    meta.visit.start_time = start
    meta.visit.nexposures = 4
    meta.visit.type = "PRIME_TARGETED_FIXED"
    meta.visit.dither.primary_name = "BOXGAP4"
    meta.visit.dither.subpixel_name = "NONE"


def fill_arrays(model, side: int, rng: np.random.Generator) -> None:
    """Replaces every array with seeded content of the L2 shapes for a side x side detector."""
    n = side - 2 * BORDER
    sky, read_var = np.float32(0.35), np.float32(0.0009)
    area = (n * n) / (4088 * 4088)
    data = rng.standard_normal((n, n), dtype=np.float32) * np.float32(0.04) + sky
    add_sources(data, rng, max(10, int(6000 * area)), 6, "star", psf_sigma=0.6, flux_scale=4.0)
    add_sources(data, rng, max(4, int(1500 * area)), 14, "galaxy", flux_scale=3.0)
    dq = np.zeros((n, n), np.uint32)
    hot = rng.integers(0, n, size=(max(20, int(40000 * area)), 2))
    dq[hot[:, 0], hot[:, 1]] = np.uint32(1 << 11)  # HOT
    dq[:, : max(1, n // 512)] |= np.uint32(1 << 31)  # REFERENCE_PIXEL-adjacent column flag
    var_poisson = np.clip(data, 0, None) / np.float32(139.8)
    model.data = data
    model.dq = dq
    model.dq2 = np.zeros((n, n), np.uint32)
    model.var_poisson = var_poisson.astype(np.float16)
    model.var_rnoise = np.full((n, n), read_var, np.float16)
    model.err = np.sqrt(var_poisson + read_var).astype(np.float16)
    model.chisq = (rng.chisquare(4, (n, n)).astype(np.float32) / np.float32(4)).astype(np.float16)
    model.dumo = (rng.standard_normal((n, n), dtype=np.float32) * np.float32(0.002)).astype(np.float16)
    model.amp33 = (rng.standard_normal((NRESULTANTS, side, 128), dtype=np.float32) * 6 + 18000).astype(np.uint16)
    ref = lambda shape: (rng.standard_normal(shape, dtype=np.float32) * np.float32(5.0)).astype(np.float32)  # noqa: E731
    model.border_ref_pix_left = ref((NRESULTANTS, side, BORDER))
    model.border_ref_pix_right = ref((NRESULTANTS, side, BORDER))
    model.border_ref_pix_top = ref((NRESULTANTS, BORDER, side))
    model.border_ref_pix_bottom = ref((NRESULTANTS, BORDER, side))
    model.dq_border_ref_pix_left = np.zeros((side, BORDER), np.uint32)
    model.dq_border_ref_pix_right = np.zeros((side, BORDER), np.uint32)
    model.dq_border_ref_pix_top = np.zeros((BORDER, side), np.uint32)
    model.dq_border_ref_pix_bottom = np.zeros((BORDER, side), np.uint32)


def build_model(side: int, seed: int):
    rng = np.random.default_rng(seed)
    # create_fake_data sizes every array from `shape`; a tiny shape keeps that
    # cheap, fill_arrays then sets the real shapes.
    model = rdd.ImageModel.create_fake_data(shape=(8, 8))
    fill_meta(model, rng)
    fill_arrays(model, side, rng)
    model.validate()
    return model


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_file_date(path: str) -> None:
    with asdf.open(path, lazy_load=True, memmap=False) as af:
        got = af["roman"]["meta"]["file_date"].isot
    if got != FILE_DATE:
        raise SystemExit(
            f"error: {path} has file_date {got}, expected {FILE_DATE}: pinning the save time no longer works"
        )


def write_files(model, out_dir: str) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    plain = os.path.join(out_dir, f"{BASENAME}_cal.asdf")
    lz4 = os.path.join(out_dir, f"{BASENAME}_cal_lz4.asdf")
    written = []
    # save() records the file name in meta.filename, so write under the final
    # name in a scratch directory and move it into place.
    scratch = os.path.join(out_dir, ".partial")
    os.makedirs(scratch, exist_ok=True)
    with pinned_save_time(), stable_extension_history():
        for path, compression in ((plain, None), (lz4, "lz4")):
            tmp = os.path.join(scratch, os.path.basename(path))
            model.save(tmp, all_array_compression=compression)
            os.replace(tmp, path)
            written.append(path)
    os.rmdir(scratch)
    for path in written:
        check_file_date(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument(
        "--small", action="store_true", help=f"{DETECTOR_SMALL}-pixel detector instead of {DETECTOR_FULL}"
    )
    parser.add_argument("--seed", type=int, default=20270314)
    args = parser.parse_args(argv)
    started = time.monotonic()
    model = build_model(DETECTOR_SMALL if args.small else DETECTOR_FULL, args.seed)
    paths = write_files(model, args.out_dir)
    elapsed = time.monotonic() - started
    for path in paths:
        print(f"{path} size={os.path.getsize(path)} sha256={sha256_of(path)}")
    print(f"time={elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
