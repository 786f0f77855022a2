"""The local moto server applies a DynamoDB conditional write atomically, as DynamoDB does:
of writers racing on one version exactly one wins (the job store's optimistic locking)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from infra.local.moto_strict import serialise_dynamodb

pytestmark = pytest.mark.integration

WRITERS = 8
TRIALS = 40


@pytest.fixture
def dynamodb_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    serialise_dynamodb()  # as LocalStack.start does before it starts the server
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def race(clients: list[Any], item: dict[str, Any]) -> list[int]:
    """Every client writes version 2 on condition of version 1, all at once; who succeeded."""
    wins: list[int] = []
    start = threading.Barrier(len(clients))

    def write(client: Any, writer: int) -> None:
        start.wait()
        try:
            client.put_item(
                TableName="jobs",
                Item=item | {"version": {"N": "2"}, "by": {"N": str(writer)}},
                ConditionExpression="version = :read",
                ExpressionAttributeValues={":read": {"N": "1"}},
            )
            wins.append(writer)
        except client.exceptions.ConditionalCheckFailedException:
            pass

    threads = [threading.Thread(target=write, args=(c, i)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return wins


def test_of_writers_racing_on_one_version_exactly_one_wins(dynamodb_url: str) -> None:
    # Given an item at version 1, and 8 clients that read it at version 1
    session: dict[str, Any] = {"endpoint_url": dynamodb_url, "region_name": "eu-west-1",
                               "aws_access_key_id": "local", "aws_secret_access_key": "local"}  # fmt: skip
    table = boto3.client("dynamodb", **session)
    table.create_table(TableName="jobs", KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
                       BillingMode="PAY_PER_REQUEST")  # fmt: skip
    clients = [boto3.client("dynamodb", **session) for _ in range(WRITERS)]
    item = {"job_id": {"S": "job_1"}, "doc": {"S": "x" * 20_000}}
    double_wins = 0
    # A tiny switch interval makes the server's threads interleave between moto's condition check
    # and its store (without serialise_dynamodb: 6 of 60 trials had two winners).
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(TRIALS):
            table.put_item(TableName="jobs", Item=item | {"version": {"N": "1"}})
            wins = race(clients, item)
            # When they all write on version 1 at once / Then exactly one of them wins
            assert wins, "nobody won"
            double_wins += len(wins) > 1
    finally:
        sys.setswitchinterval(interval)
    assert double_wins == 0
