"""A Lambda handler for runner drills: sleeps when asked, answers with what it was sent and its pid.

With DRILL_LOG set, each invocation appends the pid that served it (a schedule's runs, counted).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(float(event.get("sleep", 0)))
    log = os.environ.get("DRILL_LOG")
    if log:
        with Path(log).open("a") as runs:
            runs.write(f"{os.getpid()}\n")
    return {"echo": event.get("echo"), "pid": os.getpid()}
