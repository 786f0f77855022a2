"""Create AWS resources from their template.yaml definitions (moto in tests, the local stack).

Only the properties the emulated services understand are passed on; names the template
leaves to CloudFormation become the logical id, prefixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.template_loader import load_template

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "template.yaml"


def resource_properties(logical_id: str, template_path: Path = TEMPLATE) -> dict[str, Any]:
    resource = load_template(template_path)["Resources"][logical_id]
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def create_table(dynamodb: Any, logical_id: str, name: str, template_path: Path = TEMPLATE) -> str:
    """Create a DynamoDB table exactly as template.yaml declares it; return its name."""
    props = resource_properties(logical_id, template_path)
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
            for i in props["GlobalSecondaryIndexes"]
        ]
    dynamodb.create_table(**request)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
        )
    return name
