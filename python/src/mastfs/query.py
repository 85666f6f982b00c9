"""MAST queries through the mastfs binary (``mastfs query``), so that Python and the daemon
share one implementation of the MAST protocol: criteria in, an astropy Table and S3 URIs out.

:func:`parse_query_json` is the only code that knows the shape of the binary's JSON."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

from astropy.table import MaskedColumn, Table

from . import _binary


def query(
    *,
    products: Mapping[str, Any] | None = None,
    config: str | os.PathLike | None = None,
    mast_url: str | None = None,
    **criteria: Any,
) -> Table:
    """The filtered, de-duplicated product table of a MAST query, as astroquery's
    ``Observations.filter_products`` gives it.

    ``criteria`` are ``Observations.query_criteria`` keywords: a value, a list (any of
    them), a ``(lo, hi)`` tuple (a range of a continuous column) or a ``"M*"`` wildcard.
    ``products`` are ``filter_products`` keywords (``{"productSubGroupDescription": "DRZ"}``,
    ``{"size": "<5e8"}``, ``{"mrp_only": True}``). The table's ``meta`` holds ``s3_uris``
    (one per unique product in the cloud) and ``summary`` (the lines astroquery logs).
    """
    table, _ = _resolve(criteria, products, config, mast_url)
    return table


def cloud_uris(
    *,
    products: Mapping[str, Any] | None = None,
    config: str | os.PathLike | None = None,
    mast_url: str | None = None,
    **criteria: Any,
) -> list[str]:
    """The ``s3://`` URIs of a query's unique products that are in the cloud, in MAST's
    order (astroquery's ``get_cloud_uris``). Arguments as for :func:`query`."""
    _, uris = _resolve(criteria, products, config, mast_url)
    return uris


def _resolve(criteria, products, config, mast_url) -> tuple[Table, list[str]]:
    if not criteria:
        raise ValueError("give at least one criterion, e.g. mastfs.query(obs_collection='HST', ...)")
    args = ["query", *_criterion_args(criteria)]
    if products:
        args += ["--products", *_criterion_args(products)]
    if config is not None:
        args += ["--config", os.fspath(config)]
    if mast_url is not None:
        args += ["--mast-url", mast_url]
    done = _binary.run([*args, *_json_flag()])
    return parse_query_json(done.stdout)


def _criterion_args(criteria: Mapping[str, Any]) -> list[str]:
    """``key=value`` words in the binary's criterion syntax."""
    words = []
    for key, value in criteria.items():
        if isinstance(value, tuple) and len(value) == 2:
            text = f"{value[0]}..{value[1]}"
        elif isinstance(value, (list, set, frozenset)):
            text = ",".join(_scalar(v) for v in value)
        else:
            text = _scalar(value)
        words.append(f"{key}={text}")
    return words


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@functools.cache
def _json_flag() -> tuple[str, ...]:
    """``--format json`` where the binary has it, else the older ``--json``."""
    help_text = _binary.run(["query", "--help"]).stdout
    return ("--format", "json") if "--format" in help_text else ("--json",)


def parse_query_json(text: str) -> tuple[Table, list[str]]:
    """The product table and the S3 URIs from ``mastfs query`` JSON output."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as e:
        raise _binary.MastfsError(f"`mastfs query` printed no JSON ({e}): {text[:200]!r}") from e
    rows = answer.get("filtered_rows", [])
    names = list(answer.get("columns") or [])
    for row in rows:
        names += [k for k in row if k not in names]
    table = Table()
    for name in names:
        table[name] = _column([row.get(name) for row in rows], name)
    uris = list(answer.get("s3_uris", []))
    table.meta["s3_uris"] = uris
    table.meta["summary"] = list(answer.get("summary", []))
    return table, uris


def _column(values: list[Any], name: str) -> MaskedColumn:
    """One column; missing and null cells are masked, as astroquery masks them."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        fill: Any = False
    elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        fill = 0.0 if any(isinstance(v, float) for v in present) else 0
    else:
        fill = ""
        values = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
    data = [fill if v is None else v for v in values]
    return MaskedColumn(data, name=name, mask=[v is None for v in values])
