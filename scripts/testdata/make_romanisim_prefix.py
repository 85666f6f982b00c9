#!/usr/bin/env python3
"""A romanisim-like flat folder of 360 small, valid files (deterministic).

Writes OUT_DIR/roman/nexus/soc_simulations/tutorial_data/ with, for each of
the 18 WFI detectors (wfi01..wfi18) and 4 exposures of one visit
(r0003201001001001004_0001..0004), the five products a romanisim + romancal
run leaves behind:

    <exposure>_<det>_f106_uncal.asdf   L1 ramp (uint16 resultants cube)
    <exposure>_<det>_f106_cal.asdf     L2 image (data/dq/err)
    <exposure>_<det>_f106_cat.parquet  source catalog (parquet, as romancal writes)
    <exposure>_<det>_f106_segm.asdf    segmentation map (uint32)
    <exposure>_<det>_f106_wcs.asdf     the detector's gwcs

18 x 4 x 5 = 360 files. The arrays are small (tens of kB) and their sizes
vary with detector and exposure, so listing tests see distinct sizes. The ASDF
files are real ASDF (header, YAML tree, binary blocks, block index) written by
the asdf library; the .parquet files are real parquet written by pyarrow.

Usage: make_romanisim_prefix.py OUT_DIR
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and os.environ.get("PYTHONHASHSEED") != "0":
    # Belt and braces next to asdf_determinism: no set order may depend on the hash seed.
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

import argparse
import time
import zlib

import asdf
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from astropy import coordinates, units as u
from astropy.modeling import models
from gwcs import coordinate_frames as cf
from gwcs import wcs as gwcs_wcs

from asdf_determinism import stable_extension_history

PREFIX = "roman/nexus/soc_simulations/tutorial_data"
VISIT = "r0003201001001001004"
EXPOSURES = ("0001", "0002", "0003", "0004")
DETECTORS = tuple(f"wfi{i:02d}" for i in range(1, 19))
FILTER = "f106"
SUFFIXES = ("uncal", "cal", "cat", "segm", "wcs")
PIXEL_SCALE_DEG = 0.11 / 3600.0


def file_names() -> list[str]:
    """All 360 file names, in a stable order."""
    names = []
    for exposure in EXPOSURES:
        for det in DETECTORS:
            for suffix in SUFFIXES:
                ext = "parquet" if suffix == "cat" else "asdf"
                names.append(f"{VISIT}_{exposure}_{det}_{FILTER}_{suffix}.{ext}")
    return names


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def pointing(det_index: int, exp_index: int) -> tuple[float, float]:
    """Detector centres on a 6x3 grid, dithered a little per exposure."""
    col, row = det_index % 6, det_index // 6
    return 80.5 + 0.13 * (col - 2.5) + 0.0003 * exp_index, -30.5 + 0.13 * (row - 1) + 0.0002 * exp_index


def common_meta(name: str, det: str, exposure: str, suffix: str) -> dict:
    return {
        "filename": name,
        "file_date": "2025-06-01T00:00:00.000",
        "model_type": {
            "uncal": "ScienceRawModel",
            "cal": "ImageModel",
            "segm": "SegmentationMapModel",
            "wcs": "WcsModel",
        }.get(suffix, ""),
        "origin": "STSCI/SOC",
        "telescope": "ROMAN",
        "instrument": {"name": "WFI", "detector": det.upper(), "optical_element": FILTER.upper()},
        "exposure": {
            "type": "WFI_IMAGE",
            "start_time": f"2027-03-14T06:{27 + 3 * int(exposure):02d}:19.000",
            "exposure_time": 139.8,
            "nresultants": 6,
        },
        "observation": {
            "program": 32,
            "execution_plan": 1,
            "pass": 1,
            "segment": 1,
            "observation": 1,
            "visit": 4,
            "exposure": int(exposure),
        },
        "simulation": {"software": "romanisim", "version": "0.8.0", "seed": zlib.crc32(name.encode())},
    }


def make_wcs(ra: float, dec: float, side: int):
    shift = models.Shift(-side / 2) & models.Shift(-side / 2)
    scale = models.Scale(PIXEL_SCALE_DEG) & models.Scale(PIXEL_SCALE_DEG)
    sky = models.Pix2Sky_TAN() | models.RotateNative2Celestial(ra, dec, 180.0)
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = cf.CelestialFrame(reference_frame=coordinates.ICRS(), name="world", unit=(u.deg, u.deg))
    return gwcs_wcs.WCS([(detector, shift | scale | sky), (world, None)])


def write_asdf(path: str, tree: dict) -> None:
    af = asdf.AsdfFile(tree)
    tmp = path + ".partial"
    af.write_to(tmp)
    os.replace(tmp, path)


def make_file(out: str, name: str) -> None:
    stem, ext = name.rsplit(".", 1)
    _, exposure, det, _, suffix = stem.split("_")
    exp_index, det_index = EXPOSURES.index(exposure), DETECTORS.index(det)
    rng = rng_for(name)
    side = 24 + 4 * det_index + 2 * exp_index  # varying sizes, all small
    ra, dec = pointing(det_index, exp_index)
    path = os.path.join(out, name)
    meta = common_meta(name, det, exposure, suffix)
    if suffix == "cat":
        n = 40 + int(rng.integers(0, 160))
        table = pa.table(
            {
                "label": pa.array(np.arange(1, n + 1, dtype=np.int32)),
                "ra_centroid": pa.array(ra + rng.uniform(-0.06, 0.06, n)),
                "dec_centroid": pa.array(dec + rng.uniform(-0.06, 0.06, n)),
                "x_centroid": pa.array(rng.uniform(0, 4088, n).astype(np.float32)),
                "y_centroid": pa.array(rng.uniform(0, 4088, n).astype(np.float32)),
                "aper05_flux": pa.array(rng.lognormal(1.0, 1.2, n).astype(np.float32)),
                "aper05_flux_err": pa.array(rng.uniform(0.01, 0.2, n).astype(np.float32)),
                "is_extended": pa.array(rng.integers(0, 2, n).astype(bool)),
                "flags": pa.array(rng.integers(0, 4, n).astype(np.int32)),
            },
            metadata={"roman_meta": repr(meta).encode()},
        )
        tmp = path + ".partial"
        pq.write_table(table, tmp, compression=None)
        os.replace(tmp, path)
        return
    if suffix == "uncal":
        body = {"data": rng.integers(15000, 22000, size=(6, side, side), dtype=np.uint16)}
    elif suffix == "cal":
        data = (rng.standard_normal((side, side)) * 0.04 + 0.35).astype(np.float32)
        body = {
            "data": data,
            "dq": (rng.random((side, side)) < 0.01).astype(np.uint32) << np.uint32(11),
            "err": np.full((side, side), 0.04, np.float16),
        }
    elif suffix == "segm":
        segm = np.zeros((side, side), np.uint32)
        for label in range(1, 1 + int(rng.integers(3, 12))):
            y, x = rng.integers(2, side - 2, size=2)
            segm[y - 2 : y + 2, x - 2 : x + 2] = label
        body = {"data": segm}
    else:
        body = {"wcs": make_wcs(ra, dec, 4088)}
    write_asdf(path, {"roman": {"meta": meta, **body}})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    out = os.path.join(args.out_dir, PREFIX)
    os.makedirs(out, exist_ok=True)
    started = time.monotonic()
    names = file_names()
    with stable_extension_history():
        for name in names:
            make_file(out, name)
    total = sum(os.path.getsize(os.path.join(out, n)) for n in names)
    print(f"{out}: {len(names)} files, {total} bytes, time={time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
