"""Stable codes for refused webhook URLs and failed deliveries, and the error that carries them."""

from __future__ import annotations

from enum import StrEnum


class WebhookErrorCode(StrEnum):
    """Stable codes for refused URLs and failed deliveries (a job's ``webhook_deliveries[].error_code``).

    At job creation any refusal is the API's 422 ``invalid_webhook_url``; the message says which rule.
    """

    INVALID_URL = "webhook_url_invalid"
    SCHEME_NOT_ALLOWED = "webhook_url_scheme_not_allowed"
    USERINFO_NOT_ALLOWED = "webhook_url_userinfo_not_allowed"
    IP_LITERAL_NOT_ALLOWED = "webhook_url_ip_literal_not_allowed"
    HOST_NOT_ALLOWED = "webhook_url_host_not_allowed"
    ADDRESS_NOT_ALLOWED = "webhook_address_not_allowed"
    # Delivery outcomes (DeliveryResult.error_code).
    DNS_ERROR = "dns_error"
    CONNECT_ERROR = "connect_error"
    TLS_ERROR = "tls_error"
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol_error"
    REDIRECT_NOT_FOLLOWED = "redirect_not_followed"
    HTTP_ERROR = "http_error"


class WebhookUrlError(ValueError):
    """A webhook URL (or what its host resolves to) is refused by policy."""

    def __init__(self, code: WebhookErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
