"""Seeded point sources and galaxies for synthetic astronomy images (shared by the generators)."""

from __future__ import annotations

import numpy as np


def add_sources(
    image: np.ndarray,
    rng: np.random.Generator,
    count: int,
    radius: int,
    kind: str,
    psf_sigma: float = 1.05,
    flux_scale: float = 1.0,
) -> None:
    """Adds `count` seeded Gaussian-PSF stars (kind="star") or elliptical galaxies into image.

    Sources are rendered on (2*radius+1)^2 stamps and summed with np.add.at, so the
    cost is count * stamp size, independent of the image size.
    """
    ny, nx = image.shape
    if count == 0:
        return
    xc = rng.uniform(0, nx, count)
    yc = rng.uniform(0, ny, count)
    if kind == "star":
        flux = (rng.pareto(1.3, count) + 1.0) * 0.8 * flux_scale  # power-law counts
        sig_x = np.full(count, psf_sigma)
        sig_y = np.full(count, psf_sigma)
        theta = np.zeros(count)
    else:
        flux = (rng.pareto(1.6, count) + 1.0) * 2.0 * flux_scale
        sig_x = rng.uniform(1.5, radius / 3.0, count)
        sig_y = sig_x * rng.uniform(0.3, 1.0, count)
        theta = rng.uniform(0, np.pi, count)
    offs = np.arange(-radius, radius + 1)
    ix = np.floor(xc).astype(np.int64)[:, None, None] + offs[None, None, :]
    iy = np.floor(yc).astype(np.int64)[:, None, None] + offs[None, :, None]
    dx = ix - xc[:, None, None]
    dy = iy - yc[:, None, None]
    ct, st = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    xr = dx * ct + dy * st
    yr = -dx * st + dy * ct
    sx, sy = sig_x[:, None, None], sig_y[:, None, None]
    profile = np.exp(-0.5 * ((xr / sx) ** 2 + (yr / sy) ** 2))
    if kind == "star":  # faint wide halo, as real PSFs have
        profile += 0.02 * np.exp(-0.5 * ((xr / (4 * sx)) ** 2 + (yr / (4 * sy)) ** 2))
    profile *= (flux / (2 * np.pi * sig_x * sig_y))[:, None, None]
    ok = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    ok = np.broadcast_to(ok, profile.shape)
    flat_index = np.broadcast_to(iy * nx + ix, profile.shape)[ok]
    np.add.at(image.reshape(-1), flat_index, profile[ok].astype(np.float32))
