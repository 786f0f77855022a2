"""API Gateway HTTP API emulator (Lambda proxy payload format 2.0) with a JWT authorizer, for the local stack.

One module per job: ``routes`` (matching and the template's routes), ``jwt`` (the local identity
provider and authorizer), ``payload`` (the v2.0 event and the response mapping), ``server`` (the
emulator over the shared :mod:`infra.local.httpserver`).

Serves a template's ``HttpApi`` routes over real HTTP on a threaded stdlib server and hands each request to a
function as the v2.0 event API Gateway would build, then maps the function's response back the way API
Gateway does. What it reproduces:

* Routing: ``METHOD /path/{param}`` and greedy ``{name+}`` routes, ``ANY`` and the ``$default`` route; the most
  specific route wins (literal segment > ``{param}`` > ``{greedy+}``, a named method > ``ANY``); no match, or a
  path that matches with another method only, is ``404 {"message":"Not Found"}``. With a named stage the URL
  (and ``rawPath``) carries ``/{stage}`` in front, as on AWS.
* The JWT authorizer (``$request.header.Authorization``; the token alone or after ``Bearer``): the route is
  checked first, then the token; a missing or invalid token is ``401 {"message":"Unauthorized"}`` with a
  ``www-authenticate`` header in API Gateway's words, and the function is not invoked.
* The event: ``version``, ``routeKey``, ``rawPath``, ``rawQueryString``, ``cookies`` (the cookie header moves
  there), ``headers`` (lower-cased, duplicates comma-joined, plus ``x-forwarded-*`` and ``x-amzn-trace-id``),
  ``queryStringParameters`` (duplicates comma-joined), ``pathParameters``, ``requestContext`` (with
  ``authorizer.jwt.claims`` flattened to strings and ``scopes: null``), ``body`` and ``isBase64Encoded`` (text
  content types as text, every other body base64). Keys API Gateway leaves out when empty are left out.
* Request bodies over 10 MB are ``413``; a function that raises, or returns something malformed, is
  ``500 {"message":"Internal Server Error"}`` (the trace goes to the server module's logger, never to the client).
* The response: ``statusCode``, ``headers``, ``multiValueHeaders``, ``cookies`` (each a ``Set-Cookie``),
  ``body`` (base64-decoded when ``isBase64Encoded``); a result without ``statusCode`` is API Gateway's
  "simple response": ``200`` with the result as a JSON body. Every response carries ``apigw-requestid``.

Not emulated: throttling, CORS, scopes, Lambda authorizers, mutual TLS, parameter mapping.

Tokens (:class:`LocalJwt`) are RS256 with a locally generated 2048-bit RSA key, the only kind of key an API
Gateway JWT authorizer accepts; ``LocalJwt.key`` is that private key, PEM (PKCS#8), and the token header's
``kid`` is the key's RFC 7638 thumbprint (:meth:`LocalJwt.jwks` publishes the public half). Only the
``cryptography`` package is needed (a dependency of moto, hence of the ``local`` extra).

A handler module keeps per-invocation state in module globals (Powertools' ``app.current_event``), so by
default one request at a time runs per function, as in a single Lambda execution environment; requests to
different functions run in parallel.
"""

from infra.local.apigw.jwt import InvalidToken, LocalJwt
from infra.local.apigw.payload import DEFAULT_ACCOUNT_ID, DEFAULT_API_ID, api_event, flatten_claims
from infra.local.apigw.routes import Route, match_route, routes_from_template
from infra.local.apigw.server import MAX_PAYLOAD_BYTES, HttpApiEmulator, Invoke

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_API_ID",
    "MAX_PAYLOAD_BYTES",
    "HttpApiEmulator",
    "InvalidToken",
    "Invoke",
    "LocalJwt",
    "Route",
    "api_event",
    "flatten_claims",
    "match_route",
    "routes_from_template",
]
