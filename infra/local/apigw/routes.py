"""HTTP API routes as API Gateway matches them: ``METHOD /path/{param}``, greedy ``{name+}``, ``ANY``, ``$default``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

__all__ = ["DEFAULT_ROUTE", "Route", "match_route", "routes_from_template"]

_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})
DEFAULT_ROUTE: Final = "$default"


@dataclass(frozen=True)
class Route:
    """One HTTP API route. ``path`` uses API Gateway's syntax (``/v1/jobs/{job_id}``, ``/{proxy+}``, ``$default``).

    ``requires_jwt`` is False only for a route whose event sets ``Auth: {Authorizer: NONE}``.
    """

    method: str
    path: str
    function: str
    requires_jwt: bool = True

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"route method must be one of {sorted(_METHODS)}, not {self.method!r}")
        if self.path == DEFAULT_ROUTE:
            return
        if not self.path.startswith("/"):
            raise ValueError(f"route path must start with '/': {self.path!r}")
        segments = _segments(self.path)
        for index, segment in enumerate(segments):
            if segment.endswith("+}") and index != len(segments) - 1:
                raise ValueError(f"a greedy path variable must be the last segment: {self.path!r}")

    @property
    def route_key(self) -> str:
        """API Gateway's route key: ``"GET /v1/jobs/{job_id}"``, or ``"$default"``."""
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters (URL-decoded) if this route takes ``method path``; else None."""
        if self.path == DEFAULT_ROUTE:
            return {}
        if self.method not in ("ANY", method):
            return None
        pattern, actual = _segments(self.path), _segments(path)
        parameters: dict[str, str] = {}
        for index, segment in enumerate(pattern):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = actual[index:]
                if not rest or not any(rest):
                    return None
                parameters[segment[1:-2]] = unquote("/".join(rest))
                return parameters
            if index >= len(actual):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                if not actual[index]:
                    return None
                parameters[segment[1:-1]] = unquote(actual[index])
            elif segment != actual[index]:
                return None
        return parameters if len(actual) == len(pattern) else None

    def _specificity(self) -> tuple[tuple[int, ...], int]:
        # Lower sorts first and wins: literal 0 < {param} 1 < {greedy+} 2, position by position; ANY after a method.
        if self.path == DEFAULT_ROUTE:
            return (3,), 1
        kinds = tuple(
            (2 if s.endswith("+}") else 1) if s.startswith("{") and s.endswith("}") else 0 for s in _segments(self.path)
        )
        return kinds, int(self.method == "ANY")


def _segments(path: str) -> list[str]:
    return [] if path == "/" else path[1:].split("/")


def match_route(routes: Iterable[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route API Gateway picks for ``method path`` (the path without a stage prefix or query string)."""
    best: tuple[Route, dict[str, str]] | None = None
    for route in routes:
        parameters = route.match(method, path)
        if parameters is not None and (best is None or route._specificity() < best[0]._specificity()):
            best = (route, parameters)
    return best


def routes_from_template(template: dict[str, Any], *, api: str | None = None) -> list[Route]:
    """The HTTP API routes of every ``AWS::Serverless::Function`` event of ``Type: HttpApi``, in template order.

    ``template`` is what ``infra.template_loader.load_template`` returns. ``api`` (an ``AWS::Serverless::HttpApi``
    logical id) keeps the routes of that API only. An event's ``Auth.Authorizer`` (else its API's
    ``Auth.DefaultAuthorizer``, else ``Globals.HttpApi``'s) decides ``requires_jwt``; ``NONE`` or no authorizer
    means an open route. Only payload format 2.0 is served.
    """
    resources: dict[str, Any] = template.get("Resources", {})
    global_auth = template.get("Globals", {}).get("HttpApi", {}).get("Auth", {})
    routes: list[Route] = []
    seen: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") != "HttpApi":
                continue
            properties = event.get("Properties") or {}
            api_ref = properties.get("ApiId")
            api_id = api_ref.get("Ref") if isinstance(api_ref, dict) else api_ref
            if api is not None and api_id != api:
                continue
            if str(properties.get("PayloadFormatVersion", "2.0")) != "2.0":
                raise ValueError(f"{logical_id}.{event_name}: only payload format 2.0 is emulated")
            api_auth = (
                resources.get(api_id, {}).get("Properties", {}).get("Auth", global_auth)
                if isinstance(api_id, str)
                else global_auth
            )
            authorizer = (properties.get("Auth") or {}).get("Authorizer", api_auth.get("DefaultAuthorizer"))
            method, path = properties.get("Method"), properties.get("Path")
            if not (method is None or isinstance(method, str)) or not (path is None or isinstance(path, str)):
                raise ValueError(f"{logical_id}.{event_name}: Method and Path must be plain strings")
            route = Route(
                method=(method or "ANY").upper().replace("X-AMAZON-APIGATEWAY-ANY-METHOD", "ANY"),
                path=path or DEFAULT_ROUTE,
                function=logical_id,
                requires_jwt=authorizer not in (None, "NONE"),
            )
            if route.route_key in seen:
                raise ValueError(f"route {route.route_key!r} is declared twice ({seen[route.route_key]}, {logical_id})")
            seen[route.route_key] = logical_id
            routes.append(route)
    return routes
