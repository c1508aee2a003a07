"""Fixtures of the job tests (defined in job_support, beside the helpers the tests import)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))  # smart_support

from job_support import (  # noqa: F401
    big_export,
    pg_processes,
    pg_url,
    sqlite_processes,
    sqlite_url,
)
