"""Local-stack budgets (`make bench`, third part): stack start, and a one-photo job end to end.

Starts `headshot local up` fresh (the time until it prints its ready line is the start
time), then runs one-photo jobs back to back through the HTTP API exactly as the demo does:
presigned POST upload → validator → inference (studio) → result → signed webhook verified.
Reports medians. Budgets: start <= 15 s, upload -> verified webhook <= 5 s warm.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: make the repo importable

from headshot.webhooks import verify
from infra.local import demo, stack
from tests.support import images

START_BUDGET_S = 15.0
JOB_BUDGET_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"HEADSHOT_LOCAL_DIR": folder}
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "infra.cli", "local", "up"], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        start_s = time.monotonic() - started
        state = json.loads(Path(ready["state_file"]).read_text())
        try:
            job_times = [one_job(state) for _ in range(args.jobs + 1)][1:]  # the first job warms the workers
        finally:
            process.terminate()
            process.wait(timeout=60)
    median = statistics.median(job_times)
    print("| measure | median | runs |\n|---|---|---|")
    print(f"| stack start (to ready line) | {start_s:.1f} s | 1 |")
    print(f"| one-photo job, upload -> verified webhook (warm) | {median:.2f} s | {len(job_times)} |")
    print(f"\nall job times (s): {', '.join(f'{t:.2f}' for t in job_times)}")
    print(f"Budgets: start <= {START_BUDGET_S:.0f} s: {'met' if start_s <= START_BUDGET_S else 'MISSED'}; "
          f"job <= {JOB_BUDGET_S:.0f} s: {'met' if median <= JOB_BUDGET_S else 'MISSED'}")  # fmt: skip


def one_job(state: dict[str, object]) -> float:
    receiver = demo.WebhookReceiver()
    try:
        token = stack.token(state, "bench")
        _, job = demo.api_call(state, "POST", "/v1/jobs", token, {"variants": 1, "webhook_url": receiver.url})
        slot = job["uploads"][0]
        began = time.monotonic()
        demo.upload(slot["url"], slot["fields"], images.encode(images.astronaut()), "image/png")
        assert receiver.arrived.wait(60), "no webhook"
        elapsed = time.monotonic() - began
        headers, body = receiver.deliveries[-1]
        assert verify(str(state["webhook_secret"]), body, headers, int(time.time()))
        assert json.loads(body)["type"] == "job.completed"
        return elapsed
    finally:
        receiver.close()


if __name__ == "__main__":
    main()
