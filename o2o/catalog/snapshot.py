"""The last catalog this host loaded, kept on local disk for a start while the database is
away: a worker restarted during an outage answers from it instead of failing to start.

A pickle of the outlet and promotion views and the change-feed position, written by this
host's own workers into its own state directory (`Settings.state_path`) and read only from
there: it is a cache of what the database said, never an input from anyone else. Written
under a new name and renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

log = logging.getLogger("o2o.catalog")

#: Bumped when the views change shape: an older snapshot is then ignored, not misread.
FORMAT = 1
#: Its name in the host's state directory (`Settings.state_path`).
NAME = "catalog.pickle"


def save_snapshot(path: Path, views: dict[int, Any], promos: tuple[Any, ...], seq: int) -> None:
    """Best effort: a snapshot that cannot be written is logged, never fatal."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        with tmp.open("wb") as out:
            pickle.dump((FORMAT, views, promos, seq), out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
    except (OSError, pickle.PicklingError):
        log.warning("could not save the catalog snapshot %s", path, exc_info=True)


def read_snapshot(path: Path) -> tuple[dict[int, Any], tuple[Any, ...], int] | None:
    """(views, promotions, seq), or None when there is no usable snapshot."""
    try:
        with path.open("rb") as src:
            found = pickle.load(src)
    except FileNotFoundError:
        return None
    except Exception:  # a torn or foreign file: start empty rather than not at all
        log.warning("unreadable catalog snapshot %s ignored", path, exc_info=True)
        return None
    if not (isinstance(found, tuple) and len(found) == 4 and found[0] == FORMAT):
        log.warning("catalog snapshot %s is of another format; ignored", path)
        return None
    return found[1], found[2], found[3]
