"""What the XY benchmarks share: closing their JSON result."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def finish(result: dict[str, Any], out: Path | str | None, indent: int = 1) -> None:
    """Record the load average at the end in ``result``, write it as JSON to ``out`` (if
    given; folders created) and print it."""
    result["load_average"]["end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=indent)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
    print(text)
