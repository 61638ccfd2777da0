"""Bulk sync (protocol.md §7): not implemented yet; the run reports it and goes on."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("rhom.sync")


def run(client: Any, sync_run: Any) -> None:
    log.warning("bulk sync is not supported yet; continuing with incremental sync")
    from . import _state

    _state.set_config("bulksync_state", "1")
