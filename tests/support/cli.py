"""Running the `readmodel` console script as users do, from the test environment."""

from __future__ import annotations

import sys
from pathlib import Path

READMODEL = str(Path(sys.executable).with_name("readmodel"))
