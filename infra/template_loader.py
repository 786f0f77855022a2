"""Load CloudFormation/SAM YAML templates into their JSON shape.

CloudFormation's YAML short forms (``!Ref``, ``!Sub``, ``!GetAtt`` ...) are
turned into the long forms a JSON template would contain (``{"Ref": ...}``,
``{"Fn::Sub": ...}``, ``{"Fn::GetAtt": [resource, attribute]}``), so code that
reads the template (tests, the local stack) handles one representation only.
Timestamps stay strings, as CloudFormation treats them.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from os import PathLike

__all__ = ["TemplateError", "load_template", "load_template_text"]

# Short-form tags whose long form is not "Fn::<Tag>".
_SPECIAL_TAGS = {"Ref": "Ref", "Condition": "Condition"}


class TemplateError(ValueError):
    """The text is not a CloudFormation template (not a mapping at top level)."""

    def __init__(self) -> None:
        """Create the error with its fixed message."""
        super().__init__("a CloudFormation template must be a mapping at the top level")


# libyaml's parser when PyYAML was built with it (its wheels are): ~9x faster on template.yaml,
# which the tests and the local stack read many times. The constructors stay PyYAML's own.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """SafeLoader that understands CloudFormation's intrinsic-function tags."""


def _construct_node(loader: _CfnLoader, node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    message = f"unexpected YAML node {type(node).__name__}"
    raise yaml.constructor.ConstructorError(None, None, message, node.start_mark)


def _construct_intrinsic(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, object]:
    value = _construct_node(loader, node)
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # "Resource.Attribute.With.Dots" -> ["Resource", "Attribute.With.Dots"]
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    key = _SPECIAL_TAGS.get(tag_suffix, f"Fn::{tag_suffix}")
    return {key: value}


def _construct_timestamp_as_string(loader: _CfnLoader, node: yaml.Node) -> str:
    return str(_construct_node(loader, node))


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)
_CfnLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_string)


def load_template_text(text: str) -> dict[str, Any]:
    """Parse template text (YAML or JSON) into a JSON-shaped dict."""
    loader = _CfnLoader(text)
    try:
        document = loader.get_single_data()
    finally:
        loader.dispose()
    if not isinstance(document, dict):
        raise TemplateError
    return document


def load_template(path: str | PathLike[str]) -> dict[str, Any]:
    """Read and parse the template at ``path`` (see module docstring).

    Parsed once per file version (path, size, modification time); every caller gets its own copy.
    """
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return copy.deepcopy(_parsed(resolved, stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=16)
def _parsed(path: Path, size: int, mtime_ns: int) -> dict[str, Any]:
    del size, mtime_ns  # the cache key: a rewritten file is parsed again
    return load_template_text(path.read_text(encoding="utf-8"))
