"""infra/template_loader.py: CloudFormation short forms, and one parse per file version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from infra import template_loader
from infra.template_loader import TemplateError, load_template, load_template_text

pytestmark = pytest.mark.infra
REPO_ROOT = Path(__file__).resolve().parents[2]

SHORT_FORMS = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-data"
      Arn: !GetAtt Queue.Arn.With.Dots
      Name: !Ref Queue
      Both: !If [IsProd, !Ref A, !Ref B]
      When: 2026-12-03
"""


def test_short_forms_become_the_long_forms_of_a_json_template() -> None:
    properties = load_template_text(SHORT_FORMS)["Resources"]["Bucket"]["Properties"]
    assert properties == {
        "BucketName": {"Fn::Sub": "${AWS::StackName}-data"},
        "Arn": {"Fn::GetAtt": ["Queue", "Arn.With.Dots"]},
        "Name": {"Ref": "Queue"},
        "Both": {"Fn::If": ["IsProd", {"Ref": "A"}, {"Ref": "B"}]},
        "When": "2026-12-03",
    }


def test_a_top_level_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(TemplateError):
        load_template_text("- just\n- a list\n")


def test_the_fast_loader_reads_the_real_template_as_the_pure_python_one_does() -> None:
    # Given the repository's template, read by the loader in use and by PyYAML's pure-Python parser
    text = (REPO_ROOT / "template.yaml").read_text()

    class PurePython(yaml.SafeLoader):
        pass

    PurePython.add_multi_constructor("!", template_loader._construct_intrinsic)
    PurePython.add_constructor("tag:yaml.org,2002:timestamp", template_loader._construct_timestamp_as_string)
    # Then both give the same document
    assert load_template_text(text) == yaml.load(text, Loader=PurePython)


def test_each_caller_gets_its_own_copy_of_a_cached_template(tmp_path: Path) -> None:
    # Given a template loaded once and changed by its caller
    path = tmp_path / "template.yaml"
    path.write_text(SHORT_FORMS)
    first = load_template(path)
    first["Resources"]["Bucket"]["Properties"]["Name"] = "changed"
    # When it is loaded again, the caller's change is not in it
    assert load_template(path)["Resources"]["Bucket"]["Properties"]["Name"] == {"Ref": "Queue"}


def test_an_edited_file_is_read_again(tmp_path: Path) -> None:
    # Given a template loaded once
    path = tmp_path / "template.yaml"
    path.write_text(SHORT_FORMS)
    assert "Other" not in load_template(path)["Resources"]
    # When the file is rewritten (same modification time, another size), the new text is what loads
    stat = path.stat()
    path.write_text(SHORT_FORMS + "  Other:\n    Type: AWS::SQS::Queue\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert "Other" in load_template(path)["Resources"]
