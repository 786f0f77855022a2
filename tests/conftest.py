"""Shared fixtures: the photo checker (models loaded once) and the real-photo test set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from headshot.checks import PhotoChecker
from tests.fakes import FakeLambdaContext

REPO_ROOT = Path(__file__).resolve().parents[1]
FACES_DIR = Path(os.environ.get("HEADSHOT_TESTDATA_FACES", REPO_ROOT.parent / "shared" / "testdata" / "faces"))
FACES_MISSING = (
    f"shared real-photo test set not found at {FACES_DIR} (README: real-photo tests; HEADSHOT_TESTDATA_FACES); "
    "tests that need real photos are skipped, the package-shipped astronaut still covers the core path"
)


@pytest.fixture(scope="session")
def checker() -> PhotoChecker:
    return PhotoChecker()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on loopback, reached over real HTTP through AWS_ENDPOINT_URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """What Powertools reads of a Lambda context, for every handler test."""
    return FakeLambdaContext()


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if not FACES_DIR.is_dir():
        pytest.skip(FACES_MISSING)
    return FACES_DIR


def pytest_report_header() -> str:
    return f"real-photo test set: {FACES_DIR if FACES_DIR.is_dir() else 'ABSENT — ' + FACES_MISSING}"
