"""The site agent's own tests: its package lives in agent/src and is imported from there (it is
installed on its own at a hospital, never as part of the marketplace)."""

from __future__ import annotations

import sys
from pathlib import Path

AGENT_SRC = Path(__file__).resolve().parents[2] / "agent" / "src"
if str(AGENT_SRC) not in sys.path:
    sys.path.insert(0, str(AGENT_SRC))
