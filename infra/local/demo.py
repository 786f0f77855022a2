"""`headshot demo`: one job end to end through the local stack, as a client app would do it.

Creates a job through the HTTP API, uploads with the presigned POSTs over real HTTP, receives
the signed webhook on a local receiver and verifies it, then downloads the results into
out/<job_id>/ with manifest.json, a contact sheet and the job's timeline.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Final

from infra.local import stack
from infra.local.httpserver import BackgroundServer, QuietHandler

TERMINAL: Final = {"completed", "rejected", "failed", "expired", "deleted"}
CONTENT_TYPES: Final = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heif": "image/heic"}


class _ReceiverHandler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server dispatches on this name
        receiver: WebhookReceiver = self.app
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        receiver.deliveries.append((dict(self.headers), body))
        status = receiver.statuses.pop(0) if receiver.statuses else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if status < 300:
            receiver.arrived.set()


class WebhookReceiver:
    """A webhook receiver on 127.0.0.1 (the local stack allows plain http there).

    Keeps every delivery; answers with the scripted `statuses` first (e.g. [500, 500] for a
    receiver that recovers on the third try), then 204. `arrived` is set on the first 2xx.
    """

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        self._server = BackgroundServer(_ReceiverHandler, self, name="webhook-receiver")
        self.url = self._server.start("127.0.0.1", 0) + "/hooks/headshot"

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.deliveries]

    def close(self) -> None:
        self._server.stop()


def api_call(state: dict[str, Any], method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        state["api_url"] + path, data=data, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def upload(url: str, fields: dict[str, str], data: bytes, content_type: str) -> int:
    """A browser-style multipart/form-data POST of one photo to its presigned URL."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (fields | {"Content-Type": content_type}).items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url, data=b"".join(parts), method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def ensure_stack() -> tuple[dict[str, Any], subprocess.Popen[str] | None]:
    state = stack.read_state()
    if state is not None:
        return state, None
    stack.STATE_DIR.mkdir(parents=True, exist_ok=True)
    log_path = stack.STATE_DIR / "stack.log"
    print(f"starting the local stack (its logs: {log_path}) …", flush=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "local", "up"], stdout=subprocess.PIPE, stderr=log, text=True
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"the local stack did not start; see {log_path}")
    json.loads(line)
    state = stack.read_state()
    if state is None:
        raise RuntimeError("the local stack started but wrote no state file")
    return state, process


def default_photo(folder: Path) -> Path:
    """The astronaut portrait that ships inside scikit-image: works on a fresh clone."""
    import skimage.data
    from PIL import Image

    path = folder / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)  # type: ignore[no-untyped-call]
    return path


def run_demo(photos: list[Path], styles: list[str], out: Path) -> int:
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    photos = photos or [default_photo(out)]
    missing = [str(p) for p in photos if not p.is_file()]
    if missing:
        print(f"headshot demo: not a file: {', '.join(missing)}", file=sys.stderr)
        return 2
    state, process = ensure_stack()
    receiver = WebhookReceiver()
    try:
        return _run(state, photos, styles, out, receiver, started)
    finally:
        receiver.close()
        if process is not None:
            process.terminate()
            process.wait(timeout=30)


def _run(
    state: dict[str, Any], photos: list[Path], styles: list[str], out: Path, receiver: WebhookReceiver, started: float
) -> int:
    from headshot.photos import PhotoError, sniff_format
    from headshot.webhooks import verify

    token = stack.token(state, "demo-user")
    body = {"photo_count": len(photos), "styles": styles, "variants": 2, "webhook_url": receiver.url,
            "client_reference": "headshot-demo"}  # fmt: skip
    status, job = api_call(state, "POST", "/v1/jobs", token, body)
    if status != 201:
        print(f"creating the job failed: {status} {job}", file=sys.stderr)
        return 1
    job_id = job["job_id"]
    print(f"job {job_id}: uploading {len(photos)} photo(s)")
    for photo, slot in zip(photos, job["uploads"], strict=True):
        data = photo.read_bytes()
        try:
            content_type = CONTENT_TYPES[sniff_format(data[:64])]
        except PhotoError:
            content_type = "image/jpeg"  # let the validator give the reason
        code = upload(slot["url"], slot["fields"], data, content_type)
        print(f"  {photo.name}: upload {code}")

    seen: list[tuple[str, float]] = []
    current: dict[str, Any] = {}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        _, current = api_call(state, "GET", f"/v1/jobs/{job_id}", token)
        if not seen or seen[-1][0] != current["status"]:
            seen.append((current["status"], time.monotonic() - started))
            print(f"  {seen[-1][1]:6.1f}s  {current['status']}")
        if current["status"] in TERMINAL:
            break
        time.sleep(0.2)
    receiver.arrived.wait(timeout=60)
    verified = False
    event: dict[str, Any] = {}
    if receiver.deliveries:
        headers, raw = receiver.deliveries[-1]
        verified = verify(state["webhook_secret"], raw, headers, int(time.time()))
        event = json.loads(raw)
        print(f"  webhook {event.get('type')} received, signature {'verified' if verified else 'INVALID'}")
    else:
        print("  no webhook arrived", file=sys.stderr)

    folder = out / job_id
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for result in current.get("results", []):
        with urllib.request.urlopen(result["url"], timeout=60) as response:
            name = f"{result['style']}-{result['image_id']}.jpg"
            (folder / name).write_bytes(response.read())
            files.append((name, result))
    manifest = {
        "job": current,
        "webhook": {"received": bool(receiver.deliveries), "signature_verified": verified, "event": event},
        "files": [name for name, _ in files],
        "timeline_s": [{"status": s, "elapsed_s": round(t, 2)} for s, t in seen],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    sheet = contact_sheet(photos, current, [(folder / name, result) for name, result in files])
    sheet.save(folder / "contact-sheet.png")
    print(f"{current['status']}: {len(files)} headshot(s), contact sheet and manifest in {folder}")
    print(f"total {time.monotonic() - started:.1f}s")
    return 0 if current["status"] == "completed" and verified else 1


def contact_sheet(photos: list[Path], job: dict[str, Any], outputs: list[tuple[Path, dict[str, Any]]]) -> Any:
    """Inputs (with their verdicts) on the first row, outputs (with fidelity numbers) below."""
    from PIL import Image, ImageDraw, ImageOps

    cell, caption = 256, 56
    columns = max(len(photos), min(len(outputs), 4), 1)
    rows = 1 + (len(outputs) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * cell, rows * (cell + caption) + 40), "white")
    draw = ImageDraw.Draw(sheet)
    timeline = " -> ".join(f"{t['status']}" for t in job.get("timeline", []))
    draw.text((8, 8), f"job {job['job_id']}: {job['status']}   {timeline}", fill="black")

    def place(image: Image.Image, index: int, row: int, lines: list[str]) -> None:
        x, y = index * cell, 40 + row * (cell + caption)
        thumbnail = ImageOps.contain(image.convert("RGB"), (cell - 8, cell - 8))
        sheet.paste(thumbnail, (x + 4, y + 4))
        for number, line in enumerate(lines[:3]):
            draw.text((x + 6, y + cell + 2 + 16 * number), line[:40], fill="black")

    for index, (photo, verdict) in enumerate(zip(photos, job.get("photos", []), strict=False)):
        image: Image.Image
        try:
            image = Image.open(io.BytesIO(photo.read_bytes()))
        except Exception:
            image = Image.new("RGB", (cell, cell), "grey")
        reasons = [r["code"] for r in verdict.get("reasons", [])]
        place(image, index, 0, [f"{photo.name}: {verdict['status']}", *reasons])
    for number, (path, result) in enumerate(outputs):
        fidelity = result.get("fidelity", {})
        lines = [
            result["style"],
            f"identity {fidelity.get('identity_distance', float('nan')):.2f}",
            f"skin dE {fidelity.get('skin_tone_delta_e', float('nan')):.1f}",
        ]
        place(Image.open(path), number % columns, 1 + number // columns, lines)
    return sheet
