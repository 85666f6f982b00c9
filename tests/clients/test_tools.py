"""External programs on the DRZ file: fitsverify, and SAOImage ds9 under Xvfb driven over XPA."""

from __future__ import annotations

import math
import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from astropy.io import fits

from clientenv import DRZ_KEY, require_tool

DS9_INIT_TCL = "package require img::window\npackage require img::png\n"
DS9_START_TIMEOUT_S = 90


def test_fitsverify_clean(client_env, standin):
    require_tool("fitsverify")
    path = client_env.path(DRZ_KEY)
    result = subprocess.run(["fitsverify", str(path)], capture_output=True, text=True, timeout=300)
    summary = re.search(r"Verification found (\d+) warning\(s\) and (\d+) error\(s\)", result.stdout)
    assert summary is not None, (
        f"fitsverify printed no summary (exit {result.returncode}): {result.stdout[-2000:]}{result.stderr}"
    )
    warnings_count, errors_count = int(summary.group(1)), int(summary.group(2))
    assert (warnings_count, errors_count) == (0, 0), (
        f"fitsverify: expected 0 warnings 0 errors, got {warnings_count} warnings {errors_count} errors:\n"
        f"{result.stdout[-3000:]}"
    )
    standin.assert_at_most("fitsverify", bytes_fetched=path.stat().st_size)


class Ds9Session:
    """Xvfb + ds9 started for one test, each ended by its own pid."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.name = f"mastfs_{uuid.uuid4().hex[:8]}"
        self.xvfb = None
        self.ds9 = None
        self.env = dict(os.environ, XPA_METHOD="local")

    def start(self, fits_path: str) -> None:
        read_fd, write_fd = os.pipe()
        self.xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as display_pipe:
            display = display_pipe.readline().strip()
        assert display.isdigit(), f"Xvfb: expected a display number on -displayfd, got {display!r}"
        self.env["DISPLAY"] = f":{display}"
        init = self.workdir / "init.tcl"
        init.write_text(DS9_INIT_TCL)
        self.log = (self.workdir / "ds9.log").open("w")
        self.ds9 = subprocess.Popen(
            ["ds9", "-title", self.name, "-source", str(init), f"{fits_path}[SCI]"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + DS9_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.ds9.poll() is not None:
                raise AssertionError(f"ds9 exited with {self.ds9.returncode}: {(self.workdir / 'ds9.log').read_text()}")
            probe = subprocess.run(["xpaaccess", self.name], env=self.env, capture_output=True, text=True)
            # XPA comes up before the command-line file is loaded: wait for both.
            if probe.stdout.strip() == "yes" and self.get("file"):
                return
            time.sleep(0.25)
        raise AssertionError(f"ds9 XPA access point {self.name} with a loaded file not up after {DS9_START_TIMEOUT_S}s")

    def get(self, *args: str) -> str:
        result = subprocess.run(["xpaget", self.name, *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"xpaget {' '.join(args)}: exit {result.returncode}: {result.stderr}"
        return result.stdout.strip()

    def set(self, *args: str) -> None:
        result = subprocess.run(
            ["xpaset", "-p", self.name, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"xpaset {' '.join(args)}: exit {result.returncode}: {result.stderr}"

    def stop(self) -> None:
        if self.ds9 is not None and self.ds9.poll() is None:
            subprocess.run(["xpaset", "-p", self.name, "exit"], env=self.env, capture_output=True, timeout=30)
            try:
                self.ds9.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.ds9.kill()
                self.ds9.wait()
        if self.xvfb is not None and self.xvfb.poll() is None:
            self.xvfb.terminate()
            self.xvfb.wait(timeout=10)
        if getattr(self, "log", None):
            self.log.close()


def brightest_pixel(path: Path) -> tuple[int, int, float]:
    """(x, y) in ds9's 1-based image coordinates and the value of the brightest central pixel."""
    data = fits.getdata(path, "SCI")
    ny, nx = data.shape
    window = data[ny // 4 : 3 * ny // 4, nx // 4 : 3 * nx // 4]
    row, col = np.unravel_index(int(np.argmax(window)), window.shape)
    row, col = row + ny // 4, col + nx // 4
    return int(col) + 1, int(row) + 1, float(data[row, col])


def test_ds9_loads_reads_pixel_and_saves_png(client_env, standin):
    require_tool("ds9", "xpaget", "xpaset", "xpaaccess", "Xvfb")
    path = client_env.path(DRZ_KEY)
    x, y, expected = brightest_pixel(client_env.source_path(DRZ_KEY))
    with tempfile.TemporaryDirectory(prefix="mastfs-ds9-") as tmp:
        session = Ds9Session(Path(tmp))
        try:
            session.start(str(path))
            loaded = session.get("file")
            assert loaded.startswith(str(path)), f"ds9 file: expected {path}[SCI], got {loaded!r}"
            value = session.get("data", "image", str(x), str(y), "1", "1", "yes")
            assert math.isclose(float(value), expected, rel_tol=1e-5, abs_tol=1e-7), (
                f"ds9 pixel ({x}, {y}): expected {expected} (astropy), got {value}"
            )
            png = Path(tmp) / "view.png"
            session.set("saveimage", "png", str(png))
            assert png.is_file() and png.stat().st_size > 1000, f"saveimage png: expected a non-empty file at {png}"
            magic = png.read_bytes()[:8]
            assert magic == b"\x89PNG\r\n\x1a\n", f"saveimage png: expected PNG magic, got {magic!r}"
        finally:
            session.stop()
    standin.assert_at_most("ds9 load + pixel + saveimage", bytes_fetched=path.stat().st_size)
