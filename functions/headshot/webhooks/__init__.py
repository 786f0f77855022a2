"""Webhooks (docs/WEBHOOKS.md): signing, target URL policy, SSRF-safe delivery, retry backoff.

Standard library only, so the API and the sender Lambda share it without extra packages.
One module per job:

* ``signing``: the event envelope and its Standard Webhooks headers (``sign``/``verify``,
  ``signing_keys``, ``build_event``).
* ``errors``: ``WebhookErrorCode`` and ``WebhookUrlError``.
* ``targets``: the URL policy (``WebhookPolicy``, ``validate_url``).
* ``addresses``: SSRF address vetting (``address_problem``, ``resolve_target``).
* ``transport``: connections pinned to the vetted addresses.
* ``delivery``: one attempt end to end (``deliver``) and its ``DeliveryResult``.
* ``backoff``: ``retry_delay_seconds``.

Security model, in order:

1. ``validate_url`` is a pure syntax/policy check (job creation and again at send time):
   https only, no userinfo, no IP literals in any notation, host on the allow-list.
2. ``resolve_target`` resolves the host once and rejects the target if ANY address is not a
   public unicast address (private, loopback, link-local, metadata, ULA, shared, reserved,
   multicast, and IPv6 forms that embed such an IPv4 address).
3. ``deliver`` connects to those vetted addresses only; the host name is never resolved again,
   so DNS rebinding between check and connect cannot steer the request inward. TLS still
   verifies the certificate against the original host name (SNI + hostname check).

Redirects are never followed. Response bodies are read up to a cap and discarded. Nothing here
logs; results carry codes and status numbers, never the body, the URL's query or the secret.

Local stack only: ``WebhookPolicy.allow_loopback_http`` lets a canonical loopback literal
(``http://127.0.0.1:<port>/...`` or ``http://[::1]:<port>/...``) through without being on the
allow-list. Nothing else relaxes; a host *name* resolving to loopback is still refused.
"""

from headshot.hostnames import parse_allowed_hosts
from headshot.webhooks.addresses import IPAddress, Resolver, address_problem, resolve_target
from headshot.webhooks.backoff import SQS_MAX_VISIBILITY_S, retry_delay_seconds
from headshot.webhooks.delivery import MAX_RESPONSE_BYTES, DeliveryResult, deliver
from headshot.webhooks.errors import WebhookErrorCode, WebhookUrlError
from headshot.webhooks.signing import (
    DEFAULT_TOLERANCE_S,
    ID_HEADER,
    SECRET_PREFIX,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    USER_AGENT,
    WebhookEventType,
    build_event,
    sign,
    signing_keys,
    verify,
)
from headshot.webhooks.targets import MAX_URL_LENGTH, ParsedTarget, WebhookPolicy, validate_url
from headshot.webhooks.transport import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    PinnedHTTPConnection,
    PinnedHTTPSConnection,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_TOLERANCE_S",
    "ID_HEADER",
    "MAX_RESPONSE_BYTES",
    "MAX_URL_LENGTH",
    "SECRET_PREFIX",
    "SIGNATURE_HEADER",
    "SQS_MAX_VISIBILITY_S",
    "TIMESTAMP_HEADER",
    "USER_AGENT",
    "DeliveryResult",
    "IPAddress",
    "ParsedTarget",
    "PinnedHTTPConnection",
    "PinnedHTTPSConnection",
    "Resolver",
    "WebhookErrorCode",
    "WebhookEventType",
    "WebhookPolicy",
    "WebhookUrlError",
    "address_problem",
    "build_event",
    "deliver",
    "parse_allowed_hosts",
    "resolve_target",
    "retry_delay_seconds",
    "sign",
    "signing_keys",
    "validate_url",
    "verify",
]
