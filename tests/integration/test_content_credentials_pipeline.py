"""Delivered headshots carry C2PA Content Credentials through the whole local pipeline."""

from __future__ import annotations

import io
import urllib.request
from pathlib import Path

import c2pa  # type: ignore[import-untyped]  # ships no type information
import pytest

from tests.integration.conftest import RunningStack
from tests.support import images

pytestmark = pytest.mark.integration


def test_delivered_results_are_signed_by_the_stacks_signing_secret(local_stack: RunningStack) -> None:
    # Given a completed one-photo job (the container signs with the secret the stack created)
    job = local_stack.create_job([images.encode(images.astronaut())])
    done = local_stack.wait(job["job_id"], {"completed", "failed", "rejected"})
    assert done["status"] == "completed", done
    # And a verifier that trusts the stack's throwaway root
    root = Path(local_stack.state["c2pa_test_root"]).read_text()
    trusting = c2pa.Context.from_dict({"verify": {"verify_trust": True}, "trust": {"trust_anchors": root}})
    for result in done["results"]:
        # When a delivered result is downloaded and read back
        with urllib.request.urlopen(result["url"]) as response:
            data = response.read()
            content_type = response.headers["Content-Type"]
        with c2pa.Reader(content_type, io.BytesIO(data), context=trusting) as reader:
            state, store = reader.get_validation_state(), reader.json()
        # Then its manifest validates (signature, chain, hash binding) and names no job or user
        assert state == "Trusted", reader_failures(data, content_type, trusting)
        assert job["job_id"] not in store and "alice" not in store


def reader_failures(data: bytes, content_type: str, context: object) -> list[str]:
    with c2pa.Reader(content_type, io.BytesIO(data), context=context) as reader:
        results = reader.get_validation_results() or {}
    return [entry["code"] for entry in (results.get("activeManifest") or {}).get("failure", [])]
