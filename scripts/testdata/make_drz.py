#!/usr/bin/env python3
"""Deterministic HST ACS/WFC drizzled (DRZ) FITS file, shaped like MAST's jbeveo010_drz.fits.

Layout (same as the archive product listed in the seed notebook):

    No.  Name     Type         Cards  Dimensions    Format
    0    PRIMARY  PrimaryHDU     846  ()
    1    SCI      ImageHDU        81  (4240, 4313)  float32
    2    WHT      ImageHDU        44  (4240, 4313)  float32
    3    CTX      ImageHDU        37  (4240, 4313)  int32
    4    HDRTAB   BinTableHDU    595  10R x 292C    [9A, 3A, K, D, ...]

Every header and data unit is padded to 2880-byte FITS blocks; with the full
shape the file is exactly 219,608,640 bytes, the size MAST lists for the real
product. The block arithmetic (header cards include END):

    PRIMARY 847 cards -> 24 blocks                                        69,120
    SCI      82 cards ->  3 blocks + 4240*4313*4 bytes -> 25,399 blocks  73,157,760
    WHT      45 cards ->  2 blocks + 25,399 blocks                        73,154,880
    CTX      38 cards ->  2 blocks + 25,399 blocks                        73,154,880
    HDRTAB  596 cards -> 17 blocks + 10 rows x 2,288 bytes -> 8 blocks      72,000
    total                                                             219,608,640

The seed shows the first 171 of the table's 292 column formats; those are
reproduced verbatim, the remaining 121 follow the same mix of D/A/K/L, with
string widths chosen so a row is 2,288 bytes (the table data then fills 8
blocks, which makes the total match; any row of 2,017..2,304 bytes would).
The table header has 595 cards rather than the archive's 593 because it also
carries CHECKSUM/DATASUM.

The SCI image is a seeded star field (sky + noise + PSF stars + small
galaxies) inside a slightly rotated two-chip footprint with a dithered chip gap,
zero outside, as drizzled products look. WHT is the exposure-time weight, CTX
the context bit mask of contributing chips. Every HDU has a valid CHECKSUM and
DATASUM; their comments carry a fixed date so the bytes are identical on every
run.

Usage: make_drz.py OUT.fits [--small] [--rootname jbeveo010] [--seed N]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
import zlib
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from starfield import add_sources

FULL_SHAPE = (4313, 4240)  # numpy order: (NAXIS2, NAXIS1)
SMALL_SHAPE = (400, 512)
FULL_SIZE_BYTES = 219_608_640
CARDS = {"PRIMARY": 846, "SCI": 81, "WHT": 44, "CTX": 37}
HDRTAB_ROWS = 10
HDRTAB_COLUMNS = 292
HDRTAB_ROW_BYTES = 2_288
EXPOSURES = 5  # 5 exposures x 2 WFC chips = the 10 HDRTAB rows
PIXEL_SCALE_DEG = 0.05 / 3600.0
# The date in CHECKSUM/DATASUM comments; astropy would write "now" otherwise.
CHECKSUM_COMMENT = "HDU checksum updated 2012-03-14T06:27:19"

# Column formats of the archive's HDRTAB as shown by .info() in the seed notebook.
SEED_HDRTAB_FORMATS = (
    "9A, 3A, K, D, D, D, D, D, D, D, D, D, D, D, D, D, K, 3A, 9A, 7A, 18A, 4A, D, D, D, D, 3A, "
    "D, D, D, D, D, D, D, D, D, D, D, D, K, 8A, 23A, D, D, D, D, K, K, K, 8A, K, 23A, 9A, 20A, K, "
    "4A, K, D, K, K, K, K, 23A, D, D, D, D, K, K, 3A, 3A, 4A, 4A, L, D, D, D, 3A, 1A, K, D, D, D, "
    "D, D, 4A, 4A, 12A, 12A, 23A, 8A, 23A, 10A, 10A, D, D, 3A, 3A, 23A, 4A, 8A, 7A, 23A, D, K, D, "
    "6A, 9A, 8A, D, D, L, 9A, 18A, 3A, K, 5A, 7A, 3A, D, 13A, 8A, 4A, 3A, L, K, L, K, L, K, K, D, "
    "D, D, D, D, D, 3A, 1A, D, 23A, D, D, D, 3A, 23A, L, 1A, 3A, 6A, D, 3A, 6A, K, D, D, D, D, D, "
    "D, D, D, D, D, 23A, D, D, D, D, 3A, D"
).split(", ")


@dataclass(frozen=True)
class Dataset:
    """What distinguishes one DRZ product from another: its name, pointing and seed."""

    rootname: str
    targname: str
    ra: float
    dec: float
    footprint_angle_deg: float
    date_obs: str
    expstart_mjd: float
    seed: int


def dataset_for(rootname: str, seed: int | None) -> Dataset:
    """Deterministic per-rootname pointing so two products differ in more than pixels."""
    name_hash = zlib.crc32(rootname.encode())
    rng = np.random.default_rng(name_hash)
    return Dataset(
        rootname=rootname,
        targname=f"FIELD-{rootname[5:7].upper()}",
        ra=round(float(rng.uniform(150.0, 150.4)), 7),
        dec=round(float(rng.uniform(2.0, 2.5)), 7),
        footprint_angle_deg=round(float(rng.uniform(1.2, 2.4)), 4),
        date_obs="2011-03-06",
        expstart_mjd=55626.0 + round(float(rng.uniform(0.1, 0.9)), 8),
        seed=name_hash if seed is None else seed,
    )


# --------------------------------------------------------------------------- pixels


def footprint_geometry(shape: tuple[int, int], angle_deg: float) -> tuple[float, float]:
    """Side lengths (a along x', b along y') of a rectangle rotated by angle that just fits shape."""
    ny, nx = shape
    margin = max(4.0, 0.0025 * min(nx, ny))
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    # a*c + b*s = nx - 2m ; a*s + b*c = ny - 2m
    det = c * c - s * s
    a = ((nx - 2 * margin) * c - (ny - 2 * margin) * s) / det
    b = ((ny - 2 * margin) * c - (nx - 2 * margin) * s) / det
    return float(a), float(b)


def make_weight_and_context(shape, ds: Dataset, exptimes) -> tuple[np.ndarray, np.ndarray]:
    """WHT (float32) and CTX (int32) for a dithered two-chip mosaic with a chip gap."""
    ny, nx = shape
    a, b = footprint_geometry(shape, ds.footprint_angle_deg)
    scale = min(nx, ny) / 4240.0
    gap_half = max(1.0, 25.0 * scale)
    c = np.float32(np.cos(np.radians(ds.footprint_angle_deg)))
    s = np.float32(np.sin(np.radians(ds.footprint_angle_deg)))
    x = np.arange(nx, dtype=np.float32) - np.float32((nx - 1) / 2)
    y = (np.arange(ny, dtype=np.float32) - np.float32((ny - 1) / 2))[:, None]
    u = x * c + y * s  # footprint frame, full 2-D via broadcasting
    v = y * c - x * s
    wht = np.zeros(shape, np.float32)
    ctx = np.zeros(shape, np.int32)
    # Line dither pattern: the gap and edges move between exposures.
    dithers = [(0.0, 0.0), (2.5, 60.0), (5.0, 120.0), (-2.5, -60.0), (-5.0, -120.0)]
    for e, (exptime, (dx, dy)) in enumerate(zip(exptimes, dithers, strict=True)):
        ue = u - np.float32(dx * scale)
        ve = v - np.float32(dy * scale)
        inside = (np.abs(ue) < a / 2 - 10 * scale) & (np.abs(ve) < b / 2 - 10 * scale)
        inside &= np.abs(ve) > gap_half
        chip1 = ve > 0  # WFC1 is the upper chip
        wht += np.where(inside, np.float32(exptime), np.float32(0))
        ctx |= np.where(inside & chip1, np.int32(1 << (2 * e)), np.int32(0))
        ctx |= np.where(inside & ~chip1, np.int32(1 << (2 * e + 1)), np.int32(0))
    # Flat-field and distortion-area structure on the weights.
    wht *= np.float32(1.0) + np.float32(0.03) * np.cos(u / np.float32(700 * scale + 1)) * np.sin(
        v / np.float32(900 * scale + 1)
    )
    return wht, ctx


def make_science(shape, ds: Dataset, wht: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SCI in electrons/s: sky + weight-scaled noise + stars + galaxies, zero outside the footprint."""
    ny, nx = shape
    area_fraction = (nx * ny) / (FULL_SHAPE[0] * FULL_SHAPE[1])
    sci = rng.standard_normal(shape, dtype=np.float32)
    wmax = np.float32(max(float(wht.max()), 1.0))
    # Noise sigma ~ 1/sqrt(weight): deeper where more exposures overlap.
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.float32(0.0125) * np.sqrt(wmax / np.maximum(wht, np.float32(1e-3)))
    sci *= sigma
    sci += np.float32(0.0)  # sky is subtracted by AstroDrizzle (MDRIZSKY keeps it)
    add_sources(sci, rng, max(8, int(4500 * area_fraction)), 7, "star")
    add_sources(sci, rng, max(3, int(900 * area_fraction)), 20, "galaxy")
    sci[wht <= 0] = np.float32(0.0)
    return sci


# --------------------------------------------------------------------------- headers


def fill_to(header: fits.Header, total_cards: int, filler: list[str]) -> None:
    """Pads header with HISTORY cards until it holds exactly total_cards (incl. CHECKSUM/DATASUM)."""
    header["CHECKSUM"] = ("0" * 16, CHECKSUM_COMMENT)
    header["DATASUM"] = ("0", "data unit checksum updated 2012-03-14T06:27:19")
    missing = total_cards - len(header)
    if missing < 0:
        raise SystemExit(f"internal error: header has {len(header)} cards, wanted {total_cards}")
    for i in range(missing):
        header.add_history(filler[i % len(filler)], before="CHECKSUM")
    if len(header) != total_cards:
        raise SystemExit(f"internal error: header has {len(header)} cards, wanted {total_cards}")


CALACS_HISTORY = [
    "CCD parameters table: ",
    "  reference table jref$xa01602fj_ccd.fits",
    "    Ground",
    "    Reference data based on Thermal-Vacuum test data",
    "DQICORR complete ...",
    "  values checked for saturation",
    "  DQ array initialized ...",
    "  reference table jref$t3n1116nj_bpx.fits",
    "    INFLIGHT 01/03/2002 22/07/2010",
    "    Bad pixels flagged from hot pixel and trap list",
    "Uncertainty array initialized.",
    "BLEVCORR complete.",
    "  Overscan region table: ",
    "  reference table jref$17717071j_osc.fits",
    "BIASCORR complete ...",
    "  reference image jref$v5c2046dj_bia.fits",
    "    INFLIGHT 06/03/2011 06/03/2011",
    "    Bias image from bias frames taken between 2011-03-01 and 2011-03-06",
    "PCTECORR complete ...",
    "  reference table jref$19i16323j_cte.fits",
    "DARKCORR complete ...",
    "  reference image jref$v5c2046hj_dkc.fits",
    "FLATCORR complete ...",
    "  reference image jref$qb12257sj_pfl.fits",
    "    INFLIGHT 31/07/2009 22/03/2010",
    "    Flat field using on-orbit L-flats derived from 47 Tuc",
    "PHOTCORR complete ...",
    "  reference table jref$w3m17171j_imp.fits",
    "    INFLIGHT 08/03/2002 01/01/2013",
    "    Photometric table computed with synphot and the pysynphot",
    "CRCORR complete",
    "AstroDrizzle processing performed using: ",
    "    AstroDrizzle Version 3.6.2",
    "    Numpy Version 1.23.5",
    "    Python Version 3.10.10",
    "WCS keywords updated by updatewcs using IDCTAB 4bb1536oj_idc.fits",
    "Image combined with blot and driz_cr to remove cosmic rays",
    "Sky subtraction with 'localmin' over the whole mosaic",
]


def primary_cards(ds: Dataset, shape, exptimes) -> list[tuple[str, object, str]]:
    """Keyword/value/comment triples of the PRIMARY header, in archive order."""
    total_exptime = float(sum(exptimes))
    expend = ds.expstart_mjd + 0.035
    cards = [
        ("SIMPLE", True, "data conform to FITS standard"),
        ("BITPIX", 16, "bits per data value"),
        ("NAXIS", 0, "number of data axes"),
        ("EXTEND", True, "File may contain standard extensions"),
        ("NEXTEND", 4, "Number of standard extensions"),
        ("DATE", "2012-03-14", "date this file was written (yyyy-mm-dd)"),
        ("FILENAME", f"{ds.rootname}_drz.fits", "name of file"),
        ("FILETYPE", "SCI", "type of data found in data file"),
        ("TELESCOP", "HST", "telescope used to acquire data"),
        ("INSTRUME", "ACS", "identifier for instrument used to acquire data"),
        ("EQUINOX", 2000.0, "equinox of celestial coord. system"),
        ("ROOTNAME", ds.rootname, "rootname of the observation set"),
        ("IMAGETYP", "EXT", "type of exposure identifier"),
        ("PRIMESI", "ACS", "instrument designated as prime"),
        ("TARGNAME", ds.targname, "proposer's target name"),
        ("RA_TARG", ds.ra, "right ascension of the target (deg) (J2000)"),
        ("DEC_TARG", ds.dec, "declination of the target (deg) (J2000)"),
        ("PROPOSID", 12062, "PEP proposal identifier"),
        ("LINENUM", f"{ds.rootname[4:6].upper()}.001", "proposal logsheet line number"),
        ("PR_INV_L", "Koekemoer", "last name of principal investigator"),
        ("PR_INV_F", "Anton", "first name of principal investigator"),
        ("PR_INV_M", "M.", "middle name / initial of principal investigat"),
        ("SUNANGLE", 118.25321, "angle between sun and V1 axis"),
        ("MOONANGL", 87.618095, "angle between moon and V1 axis"),
        ("FGSLOCK", "FINE", "commanded FGS lock (FINE,COARSE,GYROS,UNKNOWN)"),
        ("GYROMODE", "T", "number of gyros scheduled, T=3+OBAD"),
        ("REFFRAME", "ICRS", "guide star catalog version"),
        ("MTFLAG", "", "moving target flag; T if it is a moving target"),
        ("DATE-OBS", ds.date_obs, "UT date of start of observation (yyyy-mm-dd)"),
        ("TIME-OBS", "02:14:31", "UT time of start of observation (hh:mm:ss)"),
        ("EXPSTART", ds.expstart_mjd, "exposure start time (Modified Julian Date)"),
        ("EXPEND", expend, "exposure end time (Modified Julian Date)"),
        ("EXPTIME", total_exptime, "exposure duration (seconds)--calculated"),
        ("TEXPTIME", total_exptime, ""),
        ("EXPFLAG", "NORMAL", "Exposure interruption indicator"),
        ("QUALCOM1", "", ""),
        ("QUALCOM2", "", ""),
        ("QUALCOM3", "", ""),
        ("QUALITY", "", ""),
        ("DARKTIME", 516.0, "simulated dark time (seconds)"),
        ("PA_V3", 109.734, "position angle of V3-axis of HST (deg)"),
        ("RA_APER", ds.ra, "RA of aperture reference position"),
        ("DEC_APER", ds.dec, "Declination of aperture reference position"),
        ("DETECTOR", "WFC", "detector in use: WFC, HRC, or SBC"),
        ("SUBARRAY", False, "data from a subarray (T) or full frame (F)"),
        ("OBSTYPE", "IMAGING", "observation type - imaging or spectroscopic"),
        ("OBSMODE", "ACCUM", "operating mode"),
        ("CTEIMAGE", "NONE", "type of Charge Transfer Image, if applicable"),
        ("CTE_NAME", "PixelCTE 2012", "CTE algorithm name"),
        ("CTE_VER", "3.0", "CTE algorithm version"),
        ("FILTER1", "F606W", "element selected from filter wheel 1"),
        ("FILTER2", "CLEAR2L", "element selected from filter wheel 2"),
        ("FW1OFFST", 0, "computed filter wheel offset"),
        ("FW2OFFST", 0, "computed filter wheel offset"),
        ("FWSOFFST", 0, "computed filter wheel offset"),
        ("FW1ERROR", False, "filter wheel position error flag"),
        ("FW2ERROR", False, "filter wheel position error flag"),
        ("FWSERROR", False, "filter wheel position error flag"),
        ("LRFWAVE", 0.0, "proposed linear ramp filter wavelength"),
        ("APERTURE", "WFC", "aperture name"),
        ("PROPAPER", "", "proposed aperture name"),
        ("DIRIMAGE", "NONE", "direct image for grism or prism exposure"),
        ("CTEDIR", "NONE", "CTE measurement direction: serial or parallel"),
        ("CRSPLIT", 1, "number of cosmic ray split exposures"),
        ("PATTERN1", "ACS-WFC-DITHER-LINE", "primary pattern type"),
        ("P1_SHAPE", "LINE", "primary pattern shape"),
        ("P1_PURPS", "DITHER", "primary pattern purpose"),
        ("P1_NPTS", EXPOSURES, "number of points in primary pattern"),
        ("P1_PSPAC", 0.146, "point spacing for primary pattern (arc-sec)"),
        ("P1_LSPAC", 0.0, "line spacing for primary pattern (arc-sec)"),
        ("P1_ANGLE", 46.84, "angle between sides of parallelogram patt (deg)"),
        ("P1_FRAME", "POS-TARG", "coordinate frame of primary pattern"),
        ("P1_ORINT", 41.3, "orientation of pattern to coordinate frame"),
        ("P1_CENTR", "NO", "center pattern relative to pointing (yes/no)"),
        ("PATTSTEP", 1, "position number of this point in the pattern"),
        ("POSTARG1", 0.0, "POSTARG in axis 1 direction"),
        ("POSTARG2", 0.0, "POSTARG in axis 2 direction"),
        ("CCDAMP", "ABCD", "CCD amplifier read out configuration"),
        ("CCDGAIN", 2.0, "commanded gain of CCD"),
        ("CCDOFSTA", 1, "commanded CCD bias offset for amplifier A"),
        ("CCDOFSTB", 1, "commanded CCD bias offset for amplifier B"),
        ("CCDOFSTC", 1, "commanded CCD bias offset for amplifier C"),
        ("CCDOFSTD", 1, "commanded CCD bias offset for amplifier D"),
        ("ATODGNA", 2.02, "calibrated gain for amplifier A"),
        ("ATODGNB", 1.886, "calibrated gain for amplifier B"),
        ("ATODGNC", 2.017, "calibrated gain for amplifier C"),
        ("ATODGND", 2.0109999, "calibrated gain for amplifier D"),
        ("READNSEA", 4.3499999, "calibrated read noise for amplifier A"),
        ("READNSEB", 3.75, "calibrated read noise for amplifier B"),
        ("READNSEC", 4.23, "calibrated read noise for amplifier C"),
        ("READNSED", 5.25, "calibrated read noise for amplifier D"),
        ("BIASLEVA", 4192.5498, "bias level for amplifier A"),
        ("BIASLEVB", 4350.8101, "bias level for amplifier B"),
        ("BIASLEVC", 4247.25, "bias level for amplifier C"),
        ("BIASLEVD", 4300.6001, "bias level for amplifier D"),
        ("FLASHDUR", 0.0, "Exposure time in seconds: 0.1 to 409.5"),
        ("FLASHCUR", "OFF", "Post flash current (zero, low, medium, high)"),
        ("FLASHSTA", "NOT PERFORMED", "Status: SUCCESSFUL, ABORTED, NOT PERFORMED"),
        ("SHUTRPOS", "A", "Shutter position: A or B"),
        ("STATFLAG", False, "Calculate statistics?"),
        ("WRTERR", True, "write out error array extension"),
        ("DQICORR", "COMPLETE", "data quality initialization"),
        ("ATODCORR", "OMIT", "correct for A to D conversion errors"),
        ("BLEVCORR", "COMPLETE", "subtract bias level computed from overscan img"),
        ("BIASCORR", "COMPLETE", "Subtract bias image"),
        ("FLSHCORR", "OMIT", "post flash correction"),
        ("CRCORR", "OMIT", "combine observations to reject cosmic rays"),
        ("EXPSCORR", "COMPLETE", "process individual observations after cr-rejec"),
        ("SHADCORR", "OMIT", "apply shutter shading correction"),
        ("PCTECORR", "COMPLETE", "cte correction"),
        ("DARKCORR", "COMPLETE", "Subtract dark image"),
        ("FLATCORR", "COMPLETE", "flat field data"),
        ("PHOTCORR", "COMPLETE", "populate photometric header keywords"),
        ("RPTCORR", "OMIT", "add individual repeat observations"),
        ("DRIZCORR", "COMPLETE", "drizzle processing"),
        ("GLINCORR", "OMIT", "correct for global detector non-linearities"),
        ("LFLGCORR", "OMIT", "flag pixels for local and global nonlinearities"),
        ("SINKCORR", "COMPLETE", "Sink pixel flagging"),
        ("BPIXTAB", "jref$t3n1116nj_bpx.fits", "bad pixel table"),
        ("CCDTAB", "jref$xa01602fj_ccd.fits", "CCD calibration parameters"),
        ("ATODTAB", "N/A", "analog to digital correction file"),
        ("OSCNTAB", "jref$17717071j_osc.fits", "CCD overscan table"),
        ("BIASFILE", "jref$v5c2046dj_bia.fits", "bias image file name"),
        ("FLSHFILE", "N/A", "post flash correction file name"),
        ("CRREJTAB", "jref$n4e12511j_crr.fits", "cosmic ray rejection parameters"),
        ("SHADFILE", "N/A", "shutter shading correction file"),
        ("PCTETAB", "jref$19i16323j_cte.fits", "CTE Correction Table"),
        ("DRKCFILE", "jref$v5c2046hj_dkc.fits", "De-trailed Dark Reference File"),
        ("DARKFILE", "jref$v5c20460j_drk.fits", "dark image file name"),
        ("PFLTFILE", "jref$qb12257sj_pfl.fits", "pixel to pixel flat field file name"),
        ("DFLTFILE", "N/A", "delta flat field file name"),
        ("LFLTFILE", "N/A", "low order flat"),
        ("PHOTTAB", "N/A", "Photometric throughput table"),
        ("GRAPHTAB", "mtab$4cj1450cm_tmg.fits", "the HST graph table"),
        ("COMPTAB", "mtab$4cj1450im_tmc.fits", "the HST components table"),
        ("IMPHTTAB", "jref$w3m17171j_imp.fits", "Image Photometry Table"),
        ("IDCTAB", "jref$4bb1536oj_idc.fits", "image distortion correction table"),
        ("DGEOFILE", "N/A", "Distortion correction image"),
        ("MDRIZTAB", "jref$2ck18260j_mdz.fits", "MultiDrizzle parameter table"),
        ("CFLTFILE", "N/A", "coronagraphic spot-free flat field file name"),
        ("SPOTTAB", "N/A", "Coronagraphic spot offsets table"),
        ("NPOLFILE", "jref$02c1450rj_npl.fits", "Non-polynomial Offsets Reference File"),
        ("D2IMFILE", "jref$02c1450oj_d2i.fits", "Column Correction Reference File"),
        ("SNKCFILE", "jref$16q1417cj_snk.fits", "Map of sink pixels"),
        ("SATUFILE", "jref$1ce1733dj_sat.fits", "Full well saturation reference file"),
        ("CAL_VER", "9.2.0 (04-Jan-2017)", "CALACS code version"),
        ("OPUS_VER", "HSTDP 2021_2", "data processing software system version"),
        ("CSYS_VER", "hstdp-2021.2", "Calibration software system version id"),
        ("UPWCSVER", "1.4.0", "Version of STWCS used to updated the WCS"),
        ("PYWCSVER", "3.2.1", "Version of PYWCS used to updated the WCS"),
        ("DISTNAME", f"{ds.rootname[:6]}q-4bb1536oj-NPL-02c1450rj-D2I-02c1450oj", ""),
        ("SIPNAME", f"{ds.rootname[:6]}q_4bb1536oj", ""),
        ("RULESVER", 1.1, "Version ID for header kw rules file"),
        ("BLENDVER", "1.2.0", "Version of blendheader software used"),
        ("PROD_VER", "DrizzlePac 3.6.2", ""),
        ("ASN_ID", ds.rootname.upper(), "unique identifier assigned to association"),
        ("ASN_TAB", f"{ds.rootname}_asn.fits", "name of the association table"),
        ("ASN_MTYP", "EXP-DTH", "Role of the Member in the Association"),
        ("MDRIZSKY", 28.319, "Sky value computed by AstroDrizzle"),
        ("CRDS_CTX", "hst_1041.pmap", "CRDS context file"),
        ("CRDS_VER", "11.16.16, b11.4.0, 1c9f3c4", "CRDS version"),
        ("NDRIZIM", 2 * EXPOSURES, "Drizzle, No. images drizzled onto output"),
    ]
    # AstroDrizzle records one block of drizzle parameters per input chip.
    for i in range(1, 2 * EXPOSURES + 1):
        exp, chip = (i - 1) // 2, 1 + (i - 1) % 2
        flt = f"{ds.rootname[:6]}{chr(ord('a') + exp)}{exp + 1}q_flc.fits"
        pre = f"D{i:03d}"
        cards += [
            (pre + "VER", "WCSLIB Version 7.7", "Drizzle, task version"),
            (pre + "GEOM", "User parameters", "Drizzle, source of geometric information"),
            (pre + "DATA", f"{flt}[sci,{chip}]", "Drizzle, input data image"),
            (pre + "DEXP", float(exptimes[exp]), "Drizzle, input image exposure time (s)"),
            (pre + "OUDA", f"{ds.rootname}_drz_sci.fits", "Drizzle, output data image"),
            (pre + "OUWE", f"{ds.rootname}_drz_wht.fits", "Drizzle, output weighting image"),
            (pre + "OUCO", f"{ds.rootname}_drz_ctx.fits", "Drizzle, output context image"),
            (pre + "MASK", f"{flt[:-5]}_sci{chip}_final_mask.fits", "Drizzle, input weighting image"),
            (pre + "WTSC", 1.0, "Drizzle, weighting factor for input image"),
            (pre + "KERN", "square", "Drizzle, form of weight distribution kernel"),
            (pre + "PIXF", 1.0, "Drizzle, linear size of drop"),
            (pre + "COEF", "SIP", "Drizzle, source of coefficients"),
            (pre + "XGIM", "", "Drizzle, X distortion image name"),
            (pre + "YGIM", "", "Drizzle, Y distortion image name"),
            (pre + "SCAL", 0.05, "Drizzle, pixel size (arcsec) of output image"),
            (pre + "ISCL", 0.049739, "Drizzle, default IDCTAB pixel size(arcsec)"),
            (pre + "EXKY", "EXPTIME", "Drizzle, exposure keyword name in input image"),
            (pre + "INUN", "counts", "Drizzle, units of input image - counts or cps"),
            (pre + "OUUN", "cps", "Drizzle, units of output image - counts or cps"),
            (pre + "FVAL", "INDEF", "Drizzle, fill value for zero weight output pix"),
            (pre + "WKEY", "", "Input image WCS Version used"),
        ]
    return cards


def header_from(cards, extra=()) -> fits.Header:
    header = fits.Header()
    for key, value, comment in list(cards) + list(extra):
        header.append(fits.Card(key, value, comment), end=True)
    return header


def wcs_cards(ds: Dataset, shape) -> list[tuple[str, object, str]]:
    """A north-up TAN WCS at 0.05 arcsec/pixel centred on the target."""
    ny, nx = shape
    return [
        ("WCSAXES", 2, "number of World Coordinate System axes"),
        ("CRPIX1", nx / 2.0, "x-coordinate of reference pixel"),
        ("CRPIX2", ny / 2.0, "y-coordinate of reference pixel"),
        ("CRVAL1", ds.ra, "first axis value at reference pixel"),
        ("CRVAL2", ds.dec, "second axis value at reference pixel"),
        ("CTYPE1", "RA---TAN", "the coordinate type for the first axis"),
        ("CTYPE2", "DEC--TAN", "the coordinate type for the second axis"),
        ("CUNIT1", "deg", ""),
        ("CUNIT2", "deg", ""),
        ("CD1_1", -PIXEL_SCALE_DEG, "partial of first axis coordinate w.r.t. x"),
        ("CD1_2", 0.0, "partial of first axis coordinate w.r.t. y"),
        ("CD2_1", 0.0, "partial of second axis coordinate w.r.t. x"),
        ("CD2_2", PIXEL_SCALE_DEG, "partial of second axis coordinate w.r.t. y"),
        ("LTV1", 0.0, "offset in X to subsection start"),
        ("LTV2", 0.0, "offset in Y to subsection start"),
        ("LTM1_1", 1.0, "reciprocal of sampling rate in X"),
        ("LTM2_2", 1.0, "reciprocal of sampling rate in Y"),
        ("ORIENTAT", 0.0, "position angle of image y axis (deg. e of n)"),
        ("RADESYS", "ICRS", ""),
        ("WCSNAME", "IDC_4bb1536oj", ""),
    ]


def sci_cards(ds: Dataset, shape, exptimes) -> list[tuple[str, object, str]]:
    return [
        ("INHERIT", True, "inherit the primary header"),
        ("EXTNAME", "SCI", "extension name"),
        ("EXTVER", 1, "extension version number"),
        ("ROOTNAME", ds.rootname, "rootname of the observation set"),
        ("EXPNAME", ds.rootname, "exposure identifier"),
        ("BUNIT", "ELECTRONS/S", "brightness units"),
        *wcs_cards(ds, shape),
        ("PA_APER", 109.784, "Position Angle of reference aperture center (de"),
        ("VAFACTOR", 1.000029, "velocity aberration plate scale factor"),
        ("RA_APER", ds.ra, "RA of aperture reference position"),
        ("DEC_APER", ds.dec, "Declination of aperture reference position"),
        ("IDCSCALE", 0.05, ""),
        ("IDCV2REF", 256.6011, ""),
        ("IDCV3REF", 302.2179, ""),
        ("IDCTHETA", 0.0, ""),
        ("PHOTMODE", f"ACS WFC1 F606W MJD#{ds.expstart_mjd:.4f}", "observation con"),
        ("PHOTFLAM", 7.8624e-20, "inverse sensitivity, ergs/cm2/Ang/electron"),
        ("PHOTZPT", -21.1, "ST magnitude zero point"),
        ("PHOTPLAM", 5921.1, "Pivot wavelength (Angstroms)"),
        ("PHOTBW", 672.3, "RMS bandwidth of filter plus detector"),
        ("EXPTIME", float(sum(exptimes)), "exposure duration (seconds)--calculated"),
        ("TDDALPHA", 0.2, "time-dependent distortion alpha"),
        ("TDDBETA", -0.075, "time-dependent distortion beta"),
        ("SDQFLAGS", 31743, "serious data quality flags"),
        ("GOODMIN", -5.0, "minimum value of good pixels"),
        ("GOODMAX", 5000.0, "maximum value of good pixels"),
        ("GOODMEAN", 0.012, "mean value of good pixels"),
        ("SNRMIN", -3.1, "minimum signal to noise of good pixels"),
        ("SNRMAX", 350.0, "maximum signal to noise of good pixels"),
        ("SNRMEAN", 0.9, "mean value of signal to noise of good pixels"),
        ("SOFTERRS", 0, "number of soft error pixels (DQF=1)"),
        ("MEANDARK", 1.78, "average of the dark values subtracted"),
        ("MEANBLEV", 4260.4, "average of all bias levels subtracted"),
        ("MEANFLSH", 0.0, "Mean number of counts in post flash exposure"),
        ("NCOMBINE", 2 * EXPOSURES, "number of image sets combined"),
        ("MDRIZSKY", 28.319, "Sky value computed by AstroDrizzle"),
    ]


def wht_cards(ds, shape, name) -> list[tuple[str, object, str]]:
    cards = [
        ("INHERIT", True, "inherit the primary header"),
        ("EXTNAME", name, "extension name"),
        ("EXTVER", 1, "extension version number"),
        ("ROOTNAME", ds.rootname, "rootname of the observation set"),
        ("EXPNAME", ds.rootname, "exposure identifier"),
        *wcs_cards(ds, shape),
    ]
    if name == "WHT":
        cards += [
            ("BUNIT", "UNITLESS", "brightness units"),
            ("PA_APER", 109.784, "Position Angle of reference aperture center (de"),
            ("VAFACTOR", 1.000029, "velocity aberration plate scale factor"),
            ("RA_APER", ds.ra, "RA of aperture reference position"),
            ("DEC_APER", ds.dec, "Declination of aperture reference position"),
        ]
    return cards


# --------------------------------------------------------------------------- HDRTAB


def hdrtab_formats() -> list[str]:
    """292 TFORMs: the seed's 171 verbatim, then the same mix, sized to a HDRTAB_ROW_BYTES row."""
    forms = list(SEED_HDRTAB_FORMATS)
    tail_kinds = "DADKDADDALDADKDADDAKDAADDA"
    while len(forms) < HDRTAB_COLUMNS:
        kind = tail_kinds[(len(forms) - len(SEED_HDRTAB_FORMATS)) % len(tail_kinds)]
        forms.append("1A" if kind == "A" else kind)
    deficit = HDRTAB_ROW_BYTES - sum(form_bytes(f) for f in forms)
    tail_strings = [i for i in range(len(SEED_HDRTAB_FORMATS), HDRTAB_COLUMNS) if forms[i].endswith("A")]
    for n, i in enumerate(tail_strings):
        extra = deficit // len(tail_strings) + (1 if n < deficit % len(tail_strings) else 0)
        forms[i] = f"{form_bytes(forms[i]) + extra}A"
    assert sum(form_bytes(f) for f in forms) == HDRTAB_ROW_BYTES
    return forms


def form_bytes(form: str) -> int:
    m = re.fullmatch(r"(\d*)([AKDL])", form)
    if m is None:
        raise ValueError(f"unsupported TFORM {form!r}")
    repeat = int(m.group(1) or 1)
    return repeat * {"A": 1, "K": 8, "D": 8, "L": 1}[m.group(2)]


def hdrtab_names(forms: list[str], primary: list[tuple[str, object, str]]) -> list[str]:
    """Column names: real header keywords whose values have the column's type, in header order."""
    pools: dict[str, list[str]] = {"A": [], "K": [], "D": [], "L": []}
    structural = {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "HISTORY"}
    for key, value, _ in primary:
        # FITS column names may hold only letters, digits and "_" (fitsverify warns otherwise).
        if key in structural or re.fullmatch(r"D\d{3}\w+", key) or "-" in key:
            continue
        kind = (
            "L"
            if isinstance(value, bool)
            else "K"
            if isinstance(value, int)
            else "D"
            if isinstance(value, float)
            else "A"
        )
        pools[kind].append(key)
    pools["D"] += [
        f"{ab}_{p}_{q}" for ab in ("A", "B", "AP", "BP") for p in range(5) for q in range(5) if 2 <= p + q <= 4
    ]
    pools["D"] += [f"OC{xy}{p}{q}" for xy in "XY" for p in range(1, 5) for q in range(p + 1)]
    pools["K"] += [
        "EXTVER",
        "CCDCHIP",
        "A_ORDER",
        "B_ORDER",
        "AP_ORDER",
        "BP_ORDER",
        "NAXIS1",
        "NAXIS2",
        "SIZAXIS1",
        "SIZAXIS2",
        "BINAXIS1",
        "BINAXIS2",
        "CENTERA1",
        "CENTERA2",
        "NGOODPIX",
        "NRPTEXP",
        "SDQFLAGS",
        "IDCXREF",
        "IDCYREF",
        "DETECTOR_ID",
    ]
    pools["A"] = (
        ["ROOTNAME", "EXTNAME"]
        + [k for k in pools["A"] if k != "ROOTNAME"]
        + [
            "WCSNAMEO",
            "WCSNAMEA",
            "WCSNAMEB",
            "EXPNAME",
            "BUNIT",
            "CTYPE1O",
            "CTYPE2O",
            "D2IMEXT",
            "NPOLEXT",
            "DGEOEXT",
            "IDCSOLN",
            "FITNAME",
            "DATE_OBS",
            "TIME_OBS",
            "PROPTTL1",
            "TARDESC1",
            "TARDESC2",
            "TARKEY1",
            "TARKEY2",
            "OBSET_ID",
            "ASN_STAT",
            "IRAF_TLM",
            "ORIGIN",
            "WCSTYPE",
            "RAWNAME",
            "CAL_DATE",
            "FGSREF",
            "GSC_ID",
            "GSC2_VER",
            "GUIDECMD",
            "GUIDEACT",
            "ACQTYPE",
            "DITHPOS",
            "BIASFTYP",
            "DARKFTYP",
            "CRDS_BLD",
            "PODPSFF",
            "STDCFFF",
            "STDCFFP",
            "SCLAMP",
            "OBSTEXT",
            "PEDIGREE",
            "DESCRIP",
            "USEAFTER",
            "COMMENT1",
            "COMMENT2",
            "TRAILER",
            "PROCNOTE",
            "DRIZNOTE",
            "SKYMETH",
            "SKYNOTE",
            "CRNOTE",
            "WCSNOTE",
            "ALIGNOTE",
            "FITNOTE",
            "CTENOTE",
        ]
    )
    pools["L"] += ["CTEIMAGF", "FGSOFFST", "CRMASK", "EXPSCALE", "SKYSUB", "DRIZSEP", "BLOTSKY", "COMBINE"]
    used: set[str] = set()
    names = []
    counters = {"A": 0, "K": 0, "D": 0, "L": 0}
    for form in forms:
        kind = form[-1]
        pool = pools[kind]
        while counters[kind] < len(pool) and pool[counters[kind]] in used:
            counters[kind] += 1
        if counters[kind] < len(pool):
            name = pool[counters[kind]]
            counters[kind] += 1
        else:
            name = f"{kind}KEY{len(names):03d}"
        used.add(name)
        names.append(name)
    return names


def hdrtab_values(name, form, ds, rng, primary_values, exptimes) -> np.ndarray:
    """One column's 10 values (5 exposures x 2 chips), typed by TFORM, seeded."""
    kind, width = form[-1], form_bytes(form)
    exp_index = np.repeat(np.arange(EXPOSURES), 2)
    chip = np.tile([1, 2], EXPOSURES)
    flt_roots = [f"{ds.rootname[:6]}{chr(ord('a') + e)}{e + 1}q" for e in range(EXPOSURES)]
    if kind == "A":
        if name == "ROOTNAME":
            text = [flt_roots[e] for e in exp_index]
        elif name == "DATE_OBS":
            text = [ds.date_obs] * HDRTAB_ROWS
        elif name == "TIME_OBS":
            text = [f"02:{14 + 10 * e:02d}:31" for e in exp_index]
        elif name == "EXTNAME":
            text = ["SCI"] * HDRTAB_ROWS
        elif name == "FILENAME":
            text = [f"{flt_roots[e]}_flc.fits" for e in exp_index]
        elif name in primary_values and isinstance(primary_values[name], str):
            text = [primary_values[name]] * HDRTAB_ROWS
        elif width >= 40:
            text = [
                f"{name} note for {flt_roots[e]} chip {c}: nominal; guiding FINE lock, no anomalies"
                for e, c in zip(exp_index, chip, strict=True)
            ]
        else:
            text = [f"{name[:4]}{e}{c}" for e, c in zip(exp_index, chip, strict=True)]
        return np.array([t[:width].ljust(1) for t in text], dtype=f"S{width}")
    if kind == "L":
        value = primary_values.get(name)
        return np.array(
            [bool(value)] * HDRTAB_ROWS if isinstance(value, bool) else rng.integers(0, 2, HDRTAB_ROWS).astype(bool)
        )
    if kind == "K":
        if name == "EXTVER" or name == "CCDCHIP":
            return chip.astype(np.int64) if name == "EXTVER" else (3 - chip).astype(np.int64)
        value = primary_values.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return np.full(HDRTAB_ROWS, value, np.int64)
        return rng.integers(0, 4096, HDRTAB_ROWS).astype(np.int64)
    if name == "EXPTIME" or name == "TEXPTIME":
        return np.asarray([exptimes[e] for e in exp_index], np.float64)
    if name == "EXPSTART":
        return ds.expstart_mjd + exp_index * 0.007
    value = primary_values.get(name)
    if isinstance(value, float):
        return value * (1.0 + 1e-6 * rng.standard_normal(HDRTAB_ROWS))
    return rng.standard_normal(HDRTAB_ROWS) * 10.0 ** rng.integers(-12, 2)


def make_hdrtab(ds: Dataset, primary: list[tuple[str, object, str]], rng, exptimes) -> fits.BinTableHDU:
    forms = hdrtab_formats()
    names = hdrtab_names(forms, primary)
    primary_values = {k: v for k, v, _ in primary}
    columns = [
        fits.Column(name=name, format=form, array=hdrtab_values(name, form, ds, rng, primary_values, exptimes))
        for name, form in zip(names, forms, strict=True)
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="HDRTAB")
    hdu.header["CHECKSUM"] = ("0" * 16, CHECKSUM_COMMENT)
    hdu.header["DATASUM"] = ("0", "data unit checksum updated 2012-03-14T06:27:19")
    return hdu


# --------------------------------------------------------------------------- main


def build(shape, ds: Dataset) -> fits.HDUList:
    rng = np.random.default_rng(ds.seed)
    exptimes = [507.0, 507.0, 516.0, 507.0, 516.0]
    wht, ctx = make_weight_and_context(shape, ds, exptimes)
    sci = make_science(shape, ds, wht, rng)

    primary_list = primary_cards(ds, shape, exptimes)
    hdus = [fits.PrimaryHDU(header=header_from(primary_list))]
    for data, cards in (
        (sci, sci_cards(ds, shape, exptimes)),
        (wht, wht_cards(ds, shape, "WHT")),
        (ctx, wht_cards(ds, shape, "CTX")),
    ):
        hdus.append(fits.ImageHDU(data=data, header=header_from(cards)))
    hdus.append(make_hdrtab(ds, primary_list, rng, exptimes))
    hdul = fits.HDUList(hdus)
    # Pad only now: HDUList adjusts the primary's EXTEND card when extensions join.
    for hdu in hdul[:4]:
        fill_to(hdu.header, CARDS[hdu.name], CALACS_HISTORY)
    return hdul


def write_with_fixed_checksums(hdul: fits.HDUList, path: str) -> None:
    """Writes hdul with CHECKSUM/DATASUM computed now but dated CHECKSUM_COMMENT.

    astropy's checksum=True stamps the current time into the card comments,
    which would change the bytes (and the checksums) on every run.
    """
    hdul.verify("exception")
    for hdu in hdul:
        hdu.add_checksum(when=CHECKSUM_COMMENT)
    tmp = path + ".partial"
    hdul.writeto(tmp, overwrite=True, checksum=False, output_verify="exception")
    os.replace(tmp, path)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output FITS path, e.g. jbeveo010_drz.fits")
    parser.add_argument(
        "--small", action="store_true", help=f"{SMALL_SHAPE[1]}x{SMALL_SHAPE[0]} images instead of 4240x4313"
    )
    parser.add_argument("--rootname", help="dataset rootname (default: from the file name, else jbeveo010)")
    parser.add_argument("--seed", type=int, help="random seed (default: derived from the rootname)")
    args = parser.parse_args(argv)

    rootname = args.rootname
    if rootname is None:
        m = re.match(r"([a-z0-9]{9})_drz\.fits$", os.path.basename(args.out))
        rootname = m.group(1) if m else "jbeveo010"
    shape = SMALL_SHAPE if args.small else FULL_SHAPE
    ds = dataset_for(rootname, args.seed)

    started = time.monotonic()
    hdul = build(shape, ds)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_with_fixed_checksums(hdul, args.out)
    elapsed = time.monotonic() - started

    size = os.path.getsize(args.out)
    if not args.small and size != FULL_SIZE_BYTES:
        print(f"error: {args.out} is {size} bytes, expected {FULL_SIZE_BYTES}", file=sys.stderr)
        return 1
    print(
        f"{args.out} rootname={rootname} seed={ds.seed} shape={shape[1]}x{shape[0]} size={size} "
        f"sha256={sha256_of(args.out)} time={elapsed:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
