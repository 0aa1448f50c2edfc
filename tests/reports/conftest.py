"""Report tests reuse the small national picture of tests/analytics/report_world.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analytics"))  # report_world, shared with analytics
