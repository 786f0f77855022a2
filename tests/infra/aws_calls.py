"""The AWS calls each Lambda handler can make, read from the code (AST), as IAM actions.

The path followed is the architecture's: a handler module calls boto3/Powertools directly and
calls use cases through the composition root (`plane.<use case>(...)`); `headshot.wiring`'s
`build_control_plane` says which class each use case is and `control_plane()` which adapter
class fills each port; a use case calls port methods on its typed fields (and on typed
parameters of the helper functions it calls) and other use cases it holds; an adapter method
makes boto3 client calls (on clients from `boto3.client("<service>")`), Powertools secret
fetches, or PynamoDB model operations.

Precision: every method of a use-case class counts once the class is reached; of an adapter,
only the port methods called and the methods they call on self. S3 key prefixes are derived
where the key is built with `headshot.usecases.layout` (through assignments, appends and method
parameters) or passed as erase_job's prefixes; other keys (results read from a job record,
SageMaker's output locations) have no derived prefix, and their prefixes are reviewed in
template.yaml. A use case the handler names but the composition root does not build is an
`unresolved` entry, which the test reports; a call the scan cannot see (a port reached through
an untyped name) leaves its grant looking unneeded, which the test also reports, so the scan
and the template cannot drift apart silently.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
WIRING = "headshot.wiring"
PORTS = "headshot.usecases.ports"
USECASES = "headshot.usecases."

# IAM action names differ from the API operation (boto3 method) names for these.
S3_ACTIONS = {
    "head_object": "s3:GetObject",
    "get_object": "s3:GetObject",
    "put_object": "s3:PutObject",
    "delete_object": "s3:DeleteObject",
    "delete_objects": "s3:DeleteObject",
    "list_objects_v2": "s3:ListBucket",
    "list_objects": "s3:ListBucket",
    # A presigned request is made with the signer's permissions, for the operation it names.
    "generate_presigned_post": "s3:PutObject",
}
SERVICE_PREFIX = {"sagemaker-runtime": "sagemaker"}
# PynamoDB model methods -> the DynamoDB operation each sends (PynamoDB 6 sends no DescribeTable).
PYNAMO_ACTIONS = {
    "save": "PutItem",
    "get": "GetItem",
    "refresh": "GetItem",
    "query": "Query",
    "scan": "Scan",
    "count": "Query",
    "update": "UpdateItem",
    "delete": "DeleteItem",
    "condition_check": "ConditionCheckItem",
    "batch_get": "BatchGetItem",
    "batch_write": "BatchWriteItem",
}
CLIENT_HELPERS = {"get_paginator", "generate_presigned_url", "get_waiter", "close", "can_paginate", "exceptions"}


@dataclass(frozen=True, order=True)
class Call:
    """One IAM action the code needs; `on_index` for a DynamoDB query on a secondary index."""

    action: str
    on_index: bool = False


@dataclass
class Derivation:
    calls: set[Call] = field(default_factory=set)
    unresolved: set[str] = field(default_factory=set)
    visited: set[tuple[str, str]] = field(default_factory=set)
    # (S3 action, key prefix) where the key is built by headshot.usecases.layout at the call site.
    object_prefixes: set[tuple[str, str]] = field(default_factory=set)

    @property
    def actions(self) -> set[str]:
        return {c.action for c in self.calls}


# ---- modules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    name: str
    tree: ast.Module
    imports: dict[str, tuple[str, str | None]]  # local name -> (module, attribute or None)

    def classes(self) -> dict[str, ast.ClassDef]:
        return {n.name: n for n in self.tree.body if isinstance(n, ast.ClassDef)}

    def functions(self) -> dict[str, ast.FunctionDef]:
        return {n.name: n for n in self.tree.body if isinstance(n, ast.FunctionDef)}


def module_path(name: str) -> Path | None:
    base = FUNCTIONS.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def load(name: str) -> Module | None:
    path = module_path(name)
    return None if path is None else parse_file(name, path)


def resolve(module: Module, name: str) -> tuple[Module, ast.ClassDef | ast.FunctionDef] | None:
    """The class or function a name refers to in a module (defined there or imported from functions/)."""
    own = module.classes().get(name) or module.functions().get(name)
    if own is not None:
        return module, own
    if name in module.imports:
        source, attribute = module.imports[name]
        target = load(source)
        if target is not None and attribute is not None:
            return resolve(target, attribute)
    return None


def names_in(annotation: ast.expr | None) -> set[str]:
    if annotation is None:
        return set()
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return names_in(ast.parse(annotation.value, mode="eval").body)
    return {n.id for n in ast.walk(annotation) if isinstance(n, ast.Name)}


# ---- ports and adapters -------------------------------------------------------------------


@cache
def ports() -> dict[str, set[str]]:
    """Protocol name -> its method names (headshot.usecases.ports)."""
    module = load(PORTS)
    assert module is not None
    return {
        name: {m.name for m in node.body if isinstance(m, ast.FunctionDef)}
        for name, node in module.classes().items()
        if any(isinstance(b, ast.Name) and b.id == "Protocol" for b in node.bases)
    }


@cache
def adapters() -> dict[str, tuple[str, str]]:
    """Port name -> (module, class) of the adapter `control_plane()` passes for it."""
    wiring = load(WIRING)
    assert wiring is not None
    build = wiring.functions()["build_control_plane"]
    params = [*build.args.args, *build.args.kwonlyargs]
    port_of = {p.arg: next(iter(names_in(p.annotation) & set(ports())), None) for p in params}
    order = [p.arg for p in build.args.args]
    found: dict[str, tuple[str, str]] = {}
    root = wiring.functions()["control_plane"]
    # Adapters built into local names first (`store = DynamoJobStore(...)`) are followed too.
    local = {
        t.id: n.value for n in ast.walk(root) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
    }
    for call in ast.walk(root):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == build.name):
            continue
        bound = [*zip(order, call.args, strict=False), *((k.arg, k.value) for k in call.keywords if k.arg)]
        for param, value in bound:
            port = port_of.get(param)
            names = [n.id for n in ast.walk(value) if isinstance(n, ast.Name) and n.id in local]
            for constructed in [c for node in [value, *(local[n] for n in names)] for c in ast.walk(node)]:
                if port and isinstance(constructed, ast.Call) and isinstance(constructed.func, ast.Name):
                    target = resolve(wiring, constructed.func.id)
                    if target and isinstance(target[1], ast.ClassDef):
                        found[port] = (target[0].name, target[1].name)
    return found


@cache
def use_cases() -> dict[str, tuple[str, str]]:
    """ControlPlane field -> (module, class) of the use case `build_control_plane` puts there."""
    wiring = load(WIRING)
    assert wiring is not None
    build = wiring.functions()["build_control_plane"]
    local: dict[str, ast.expr] = {
        t.id: n.value
        for n in ast.walk(build)
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    found: dict[str, tuple[str, str]] = {}
    for call in ast.walk(build):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "ControlPlane":
            for keyword in call.keywords:
                value = keyword.value
                if isinstance(value, ast.Name) and value.id in local:
                    value = local[value.id]
                if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and keyword.arg:
                    target = resolve(wiring, value.func.id)
                    if target and isinstance(target[1], ast.ClassDef):
                        found[keyword.arg] = (target[0].name, target[1].name)
    return found


@cache
def port_fields() -> dict[str, str]:
    """ControlPlane field -> the port it holds as passed in to `build_control_plane` (`idempotency=idempotency`)."""
    wiring = load(WIRING)
    assert wiring is not None
    build = wiring.functions()["build_control_plane"]
    port_of = {p.arg: next(iter(names_in(p.annotation) & set(ports())), None) for p in [*build.args.args,
               *build.args.kwonlyargs]}  # fmt: skip
    found: dict[str, str] = {}
    for call in ast.walk(build):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "ControlPlane":
            for keyword in call.keywords:
                if isinstance(keyword.value, ast.Name) and keyword.arg and port_of.get(keyword.value.id):
                    found[keyword.arg] = str(port_of[keyword.value.id])
    return found


# ---- AWS calls in one function body -------------------------------------------------------


def boto3_clients(module: Module, scope: ast.AST) -> dict[str, str]:
    """Names (`x` or `self._x`) bound to boto3.client("<service>") in a scope -> service."""
    clients: dict[str, str] = {}
    for node in ast.walk(scope):
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            continue
        value = node.value
        if value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        service = next(
            (
                str(c.args[0].value)
                for c in ast.walk(value)
                if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "client"
                and isinstance(c.func.value, ast.Name) and module.imports.get(c.func.value.id, ("",))[0] == "boto3"
                and c.args and isinstance(c.args[0], ast.Constant)
            ),
            None,
        )  # fmt: skip
        for target in targets:
            if service is not None:
                clients[ast.unparse(target)] = service
    return clients


def client_action(service: str, operation: str, call: ast.Call) -> str | None:
    named = call.args and isinstance(call.args[0], ast.Constant)
    if operation in ("get_paginator", "generate_presigned_url") and named:
        # The operation is the argument: get_paginator("list_objects_v2"), generate_presigned_url("get_object").
        operation = str(call.args[0].value)  # type: ignore[attr-defined]
    elif operation in CLIENT_HELPERS:
        return None
    if service == "s3" and operation in S3_ACTIONS:
        return S3_ACTIONS[operation]
    camel = "".join(part.capitalize() for part in operation.split("_"))
    return f"{SERVICE_PREFIX.get(service, service)}:{camel}"


def is_powertools_secret(module: Module, func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute) and func.attr == "get_secret" and isinstance(func.value, ast.Name):
        return module.imports.get(func.value.id, ("", None))[1] == "parameters"
    if isinstance(func, ast.Name) and func.id == "get_secret":
        return module.imports.get("get_secret", ("", None))[0].startswith("aws_lambda_powertools")
    return False


def pynamo_models(module: Module) -> dict[str, set[str]]:
    """PynamoDB Model subclasses in a module -> their index attribute names."""
    if not any(source.startswith("pynamodb") for source, _ in module.imports.values()):
        return {}
    index_classes = {
        name for name, node in module.classes().items() if any("Index" in ast.unparse(b) for b in node.bases)
    }
    return {
        name: {
            t.id
            for s in node.body if isinstance(s, ast.Assign) and isinstance(s.value, ast.Call)
            and isinstance(s.value.func, ast.Name) and s.value.func.id in index_classes
            for t in s.targets if isinstance(t, ast.Name)
        }
        for name, node in module.classes().items()
        if any(ast.unparse(b) == "Model" for b in node.bases)
    }  # fmt: skip


def aws_calls(module: Module, body: ast.AST, clients: dict[str, str], out: Derivation) -> None:
    models = pynamo_models(module)
    for call in ast.walk(body):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        if is_powertools_secret(module, func):
            out.calls.add(Call("secretsmanager:GetSecretValue"))
            continue
        if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) == "DynamoDBPersistenceLayer":
            # Powertools idempotency: conditional put, get, update and delete of its records.
            out.calls.update(Call(f"dynamodb:{a}") for a in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"))
            continue
        if not isinstance(func, ast.Attribute):
            continue
        receiver = ast.unparse(func.value)
        if receiver in clients:
            action = client_action(clients[receiver], func.attr, call)
            if action:
                out.calls.add(Call(action))
        elif models and func.attr in PYNAMO_ACTIONS:
            root = receiver.split(".")[0]
            on_index = any(receiver == f"{m}.{i}" for m, indexes in models.items() for i in indexes)
            # Class-level operations on the model, instance ones on any record of it.
            if root in models or func.attr in ("save", "update", "delete", "refresh", "condition_check"):
                out.calls.add(Call(f"dynamodb:{PYNAMO_ACTIONS[func.attr]}", on_index))


# ---- classes and functions ----------------------------------------------------------------


def field_types(node: ast.ClassDef) -> dict[str, set[str]]:
    return {
        s.target.id: names_in(s.annotation)
        for s in node.body
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
    }


def visit_class(module: Module, node: ast.ClassDef, out: Derivation) -> None:
    if (module.name, node.name) in out.visited:
        return
    out.visited.add((module.name, node.name))
    fields = field_types(node)
    clients = boto3_clients(module, node) | boto3_clients(module, module.tree)
    for method in (m for m in node.body if isinstance(m, ast.FunctionDef)):
        aws_calls(module, method, clients, out)
        visit_body(module, method, {f"self.{k}": v for k, v in fields.items()}, out)


def visit_function(module: Module, node: ast.FunctionDef, out: Derivation) -> None:
    if (module.name, node.name) in out.visited:
        return
    out.visited.add((module.name, node.name))
    aws_calls(module, node, boto3_clients(module, module.tree), out)
    visit_body(module, node, {}, out)


def visit_body(module: Module, node: ast.FunctionDef, typed: dict[str, set[str]], out: Derivation) -> None:
    """Port calls on typed names, use cases held in fields, and helper functions called."""
    all_args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
    typed = typed | {a.arg: names_in(a.annotation) for a in all_args if a.annotation is not None}
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        if isinstance(func, ast.Attribute) and ast.unparse(func.value) in typed:
            for port in typed[ast.unparse(func.value)] & set(ports()):
                visit_port(port, func.attr, out)
                if port == "ObjectStorage" and call.args:
                    record_prefixes(module, node, func.attr, call.args[0], out)
                if port == "ObjectStorage":
                    record_prefix_argument(func.attr, call, out)
        elif ast.unparse(func) in typed:
            types = typed[ast.unparse(func)]
            for port in types & set(ports()):
                visit_port(port, "__call__", out)
            for name in types - set(ports()):
                target = resolve(module, name)
                if target and isinstance(target[1], ast.ClassDef) and target[0].name.startswith(USECASES):
                    visit_class(target[0], target[1], out)
        elif isinstance(func, ast.Name):
            target = resolve(module, func.id)
            if target and isinstance(target[1], ast.FunctionDef) and target[0].name.startswith("headshot."):
                visit_function(target[0], target[1], out)
            elif target and isinstance(target[1], ast.ClassDef) and target[0].name.startswith(USECASES):
                # A use-case helper built in place over the caller's ports (ActiveJobQuota(self.store)).
                visit_class(target[0], target[1], out)


def visit_port(port: str, method: str, out: Derivation) -> None:
    if method not in ports()[port]:
        return
    if port not in adapters():
        # A port with no adapter class in control_plane() (a function, e.g. the HTTP sender): no AWS call.
        return
    module_name, class_name = adapters()[port]
    module = load(module_name)
    assert module is not None
    # What the adapter builds once (a Powertools persistence layer) makes its calls for its methods.
    visit_method(module, module.classes()[class_name], "__init__", out)
    visit_method(module, module.classes()[class_name], method, out)


def visit_method(module: Module, node: ast.ClassDef, name: str, out: Derivation) -> None:
    """One adapter method and the methods it calls on self (an adapter serves many use cases)."""
    if (module.name, f"{node.name}.{name}") in out.visited:
        return
    out.visited.add((module.name, f"{node.name}.{name}"))
    methods = {m.name: m for m in node.body if isinstance(m, ast.FunctionDef)}
    if name not in methods:
        # A property or attribute (ObjectStorage.bucket): no call is made.
        return
    clients = boto3_clients(module, methods.get("__init__", node)) | boto3_clients(module, module.tree)
    aws_calls(module, methods[name], clients, out)
    visit_body(module, methods[name], {f"self.{k}": v for k, v in field_types(node).items()}, out)
    for call in ast.walk(methods[name]):
        func = call.func if isinstance(call, ast.Call) else None
        if isinstance(func, ast.Attribute) and ast.unparse(func.value) == "self" and func.attr in methods:
            visit_method(module, node, func.attr, out)


def derive(handler: str) -> Derivation:
    """Every IAM action the handler `<module>.<function>` (a template Handler) can need."""
    module_name = handler.rsplit(".", 1)[0]
    module = load(module_name)
    assert module is not None, handler
    out = Derivation()
    # The handler module and the modules of its own package it imports (api.bodies, ...).
    package = module_name.split(".")[0]
    own = {module_name} | {src for src, _ in module.imports.values() if src.split(".")[0] == package}
    for name in sorted(own):
        loaded_own = load(name)
        if loaded_own is not None:
            aws_calls(loaded_own, loaded_own.tree, boto3_clients(loaded_own, loaded_own.tree), out)
    plane_names = {
        t.id
        for n in ast.walk(module.tree)
        if isinstance(n, ast.Assign | ast.AnnAssign) and n.value is not None
        and re.search(r"\bcontrol_plane\(\)", ast.unparse(n.value))
        for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)
    }  # fmt: skip
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in plane_names:
            if node.attr == "settings":
                continue
            if node.attr in port_fields():
                # A port the handler calls itself (`plane.idempotency.once(...)`): its adapter's method.
                for outer in ast.walk(module.tree):
                    if isinstance(outer, ast.Attribute) and ast.unparse(outer.value) == ast.unparse(node):
                        visit_port(port_fields()[node.attr], outer.attr, out)
                continue
            if node.attr not in use_cases():
                out.unresolved.add(f"{module_name}: plane.{node.attr}")
                continue
            target_module, target_class = use_cases()[node.attr]
            loaded = load(target_module)
            assert loaded is not None
            visit_class(loaded, loaded.classes()[target_class], out)
    return out


def parse_file(name: str, path: Path) -> Module:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imports: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imports.update({a.asname or a.name: (node.module, a.name) for a in node.names})
        elif isinstance(node, ast.Import):
            imports.update({a.asname or a.name.split(".")[0]: (a.name, None) for a in node.names})
    return Module(name, tree, imports)


def derive_package(root: Path) -> Derivation:
    """Every AWS call in a package's modules (the inference container: one process, one role)."""
    out = Derivation()
    for path in sorted(root.rglob("*.py")):
        module = parse_file(path.stem, path)
        aws_calls(module, module.tree, boto3_clients(module, module.tree), out)
    return out


# ---- which key prefixes S3 calls touch, where the code says so ----------------------------

LAYOUT = "headshot.usecases.layout"


def adapter_actions(port: str, method: str) -> set[str]:
    scratch = Derivation()
    visit_port(port, method, scratch)
    return scratch.actions


def layout_prefix(name: str) -> str | None:
    """The first key segment a layout function returns ("photos/"), by calling it with placeholders."""
    import importlib
    import inspect

    layout = importlib.import_module(LAYOUT)
    function = getattr(layout, name, None)
    if function is None or not callable(function):
        return None
    args = [0 if p.annotation in (int, "int") else "x" for p in inspect.signature(function).parameters.values()]
    key = function(*args)
    return key.split("/", 1)[0] + "/" if isinstance(key, str) and "/" in key else None


def key_prefixes(module: Module, scope: ast.FunctionDef, expr: ast.expr, depth: int = 0) -> set[str]:
    """Prefixes of the keys an expression can hold: layout calls in it, or in what its names were
    assigned or appended in the same function."""
    found: set[str] = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            target = module.imports.get(node.func.id)
            if target and target[0] == LAYOUT and target[1]:
                prefix = layout_prefix(target[1])
                if prefix:
                    found.add(prefix)
        elif isinstance(node, ast.Name) and depth < 3:
            for source in assigned(scope, node.id):
                found |= key_prefixes(module, scope, source, depth + 1)
            for caller, argument in passed_as(module, scope, node.id):
                found |= key_prefixes(module, caller, argument, depth + 1)
    return found


def passed_as(module: Module, scope: ast.FunctionDef, name: str) -> list[tuple[ast.FunctionDef, ast.expr]]:
    """(calling method, argument) for each `self.<scope>(...)` call that binds the parameter `name`."""
    params = [a.arg for a in scope.args.args]
    if name not in params or not params or params[0] != "self":
        return []
    index = params.index(name) - 1
    found: list[tuple[ast.FunctionDef, ast.expr]] = []
    for cls in module.classes().values():
        if scope not in cls.body:
            continue
        for method in (m for m in cls.body if isinstance(m, ast.FunctionDef)):
            for call in ast.walk(method):
                if not (isinstance(call, ast.Call) and ast.unparse(call.func) == f"self.{scope.name}"):
                    continue
                found.extend((method, k.value) for k in call.keywords if k.arg == name)
                if index < len(call.args):
                    found.append((method, call.args[index]))
    return found


def assigned(scope: ast.FunctionDef, name: str) -> list[ast.expr]:
    values: list[ast.expr] = []
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            values.append(node.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("append", "extend")
            and ast.unparse(node.func.value) == name
        ):
            values.extend(node.args)
    return values


def record_prefixes(module: Module, scope: ast.FunctionDef, method: str, key: ast.expr, out: Derivation) -> None:
    # ListBucket counts too: its grant names the prefix in an s3:prefix condition.
    actions = {a for a in adapter_actions("ObjectStorage", method) if a.startswith("s3:")}
    for prefix in key_prefixes(module, scope, key):
        out.object_prefixes.update((action, prefix) for action in actions)


def record_prefix_argument(method: str, call: ast.Call, out: Derivation) -> None:
    """Methods that take the prefixes themselves (erase_job): a literal argument, else the
    adapter's default (a constant of headshot.usecases.layout, e.g. JOB_PREFIXES)."""
    import importlib

    module_name, class_name = adapters()["ObjectStorage"]
    module = load(module_name)
    assert module is not None
    definition = next(
        (m for m in module.classes()[class_name].body if isinstance(m, ast.FunctionDef) and m.name == method), None
    )
    params = [a.arg for a in definition.args.args] if definition else []
    if "prefixes" not in params:
        return
    index = params.index("prefixes") - 1
    given = next((k.value for k in call.keywords if k.arg == "prefixes"), None)
    if given is None and index < len(call.args):
        given = call.args[index]
    if given is None and definition is not None:
        defaults = definition.args.defaults
        given = defaults[params.index("prefixes") - (len(params) - len(defaults))]
    if isinstance(given, ast.Name) and module.imports.get(given.id, ("", None))[0] == LAYOUT:
        prefixes = tuple(getattr(importlib.import_module(LAYOUT), given.id))
    elif isinstance(given, ast.Tuple | ast.List) and all(isinstance(e, ast.Constant) for e in given.elts):
        prefixes = tuple(str(e.value) for e in given.elts if isinstance(e, ast.Constant))
    else:
        out.unresolved.add(f"ObjectStorage.{method}: prefixes {ast.unparse(given) if given else '?'}")
        return
    actions = {a for a in adapter_actions("ObjectStorage", method) if a.startswith("s3:")}
    out.object_prefixes.update((action, prefix) for action in actions for prefix in prefixes)
