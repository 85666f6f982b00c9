"""mastfs from Python: MAST queries as astropy tables, idempotent mounts of the mastfs FUSE
daemon, and one shared mount per host under Dask (:mod:`mastfs.dask`).

    import mastfs
    mnt = mastfs.mount("/tmp/mast", views={"drz": {"criteria": {...}, "products": {...}}})
    fits.open(mnt.view("drz") / "jbeveo010_drz.fits")
"""

from ._binary import MastfsError
from .mounts import Mount, MountConflict, mount, mount_state, unmount
from .query import cloud_uris, parse_query_json, query

__all__ = [
    "MastfsError",
    "Mount",
    "MountConflict",
    "cloud_uris",
    "mount",
    "mount_state",
    "parse_query_json",
    "query",
    "unmount",
]
__version__ = "0.1.0"
