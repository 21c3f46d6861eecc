"""The suite's log format, configured once per process."""

from __future__ import annotations

import logging
import os

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | None = None) -> None:
    """Log in the suite's format at ``level`` (default ``LOG_LEVEL``, else INFO)."""
    logging.basicConfig(
        level=(level or os.environ.get("LOG_LEVEL", "INFO")).upper(), format=LOG_FORMAT
    )
