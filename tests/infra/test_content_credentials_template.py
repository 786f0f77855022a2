"""template.yaml wires the C2PA signing secret: a required parameter, read access to exactly it, the env."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra.aws_resources import TEMPLATE
from infra.template_loader import load_template

pytestmark = pytest.mark.infra

PARAMETER = "ContentCredentialsSecretArn"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def test_the_signing_secret_is_a_required_parameter(template: dict[str, Any]) -> None:
    # Given the parameter
    spec = template["Parameters"][PARAMETER]
    # Then it has no default (no stack runs without signing) and takes only a secret's ARN
    assert "Default" not in spec
    pattern = re.compile(spec["AllowedPattern"])
    assert pattern.fullmatch("arn:aws:secretsmanager:eu-west-1:123456789012:secret:headshot/c2pa-AbCdEf")
    assert pattern.fullmatch("arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:c2pa-AbCdEf")
    assert not pattern.fullmatch("headshot/c2pa")
    assert not pattern.fullmatch("arn:aws:secretsmanager:eu-west-1:123456789012:secret:*")
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    assert any(PARAMETER in group["Parameters"] for group in groups)


def test_the_container_gets_the_secret_and_may_read_only_it(template: dict[str, Any]) -> None:
    # Given the model and its execution role
    model = template["Resources"]["InferenceModel"]["Properties"]["PrimaryContainer"]
    (policy,) = template["Resources"]["SageMakerExecutionRole"]["Properties"]["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    # Then the container is told the secret's ARN
    assert model["Environment"]["HEADSHOT_C2PA_SECRET_ARN"] == {"Ref": PARAMETER}
    # And the role may read that one secret and no other
    readers = [s for s in statements if "secretsmanager" in str(s)]
    assert readers == [
        {
            "Sid": "ReadContentCredentialsKey",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Ref": PARAMETER},
        }
    ]
