"""The local identity provider and JWT authorizer: RS256 tokens, as an API Gateway JWT authorizer checks them.

RS256 with a locally generated 2048-bit RSA key, the only kind of key an API Gateway JWT authorizer
accepts; ``LocalJwt.key`` is that private key, PEM (PKCS#8), and the token header's ``kid`` is the
key's RFC 7638 thumbprint (:meth:`LocalJwt.jwks` publishes the public half). Only the ``cryptography``
package is needed (a dependency of moto, hence of the ``local`` extra).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["InvalidToken", "LocalJwt"]


class InvalidToken(ValueError):  # noqa: N818 - the interface's name
    """A JWT the authorizer refuses; ``description`` is what goes into ``www-authenticate``."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise InvalidToken("the token is malformed")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("the token is malformed") from None


def _json_object(segment: str) -> dict[str, Any]:
    raw = _b64url_decode(segment)
    try:
        value = json.loads(raw)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both
        raise InvalidToken("the token is malformed") from None
    if not isinstance(value, dict):
        raise InvalidToken("the token is malformed")
    return value


@lru_cache(maxsize=16)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("LocalJwt.key must be an RSA private key (PEM)")
    return key


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class LocalJwt:
    """The local identity provider and the authorizer's configuration: RS256 tokens signed with ``key``.

    ``key`` is a PEM (PKCS#8) RSA private key; keep it out of logs (it is left out of ``repr``).
    """

    issuer: str
    audience: str
    key: str = field(repr=False)

    @classmethod
    def generate(cls, issuer: str = "https://headshot.local/", audience: str = "headshot-local") -> LocalJwt:
        """A fresh 2048-bit RSA key for ``issuer``/``audience``."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        return cls(issuer=issuer, audience=audience, key=pem)

    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (``kty``, ``n``, ``e``, ``kid``, ``alg``, ``use``)."""
        numbers = _private_key(self.key).public_key().public_numbers()
        n = _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))
        e = _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"))
        # RFC 7638 thumbprint: the required members, sorted, no whitespace.
        thumbprint = _b64url(
            hashlib.sha256(json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":")).encode()).digest()
        )
        return {"kty": "RSA", "n": n, "e": e, "kid": thumbprint, "alg": "RS256", "use": "sig"}

    @property
    def key_id(self) -> str:
        """The ``kid`` of every token this key signs."""
        return self.public_jwk()["kid"]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document an OpenID provider would publish for this key."""
        return {"keys": [self.public_jwk()]}

    def token(self, sub: str, ttl_s: int = 3600, **claims: Any) -> str:
        """A signed token for ``sub`` valid ``ttl_s`` seconds (negative: already expired).

        ``claims`` add to or override ``iss``, ``aud``, ``sub``, ``iat``, ``exp`` (e.g. ``aud="someone-else"``).
        """
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": self.audience, "sub": sub, "iat": now, "exp": now + ttl_s} | claims
        return self._sign({"alg": "RS256", "typ": "JWT", "kid": self.key_id}, payload)

    def _sign(self, header: dict[str, Any], payload: dict[str, Any]) -> str:
        compact = (
            json.dumps(header, separators=(",", ":")).encode(),
            json.dumps(payload, separators=(",", ":")).encode(),
        )
        signing_input = f"{_b64url(compact[0])}.{_b64url(compact[1])}"
        signature = _private_key(self.key).sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, checked as API Gateway's JWT authorizer checks them (and ``sub`` must be set).

        Raises :class:`InvalidToken` for a malformed token, another algorithm than RS256, an unknown ``kid``, a
        bad signature, another issuer, no matching ``aud`` (or ``client_id`` when there is no ``aud``), a missing
        or past ``exp``, a future ``nbf`` or ``iat``, or a missing/empty ``sub``.
        """
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("token contains an invalid number of segments")
        header, claims = _json_object(parts[0]), _json_object(parts[1])
        if header.get("alg") != "RS256":
            raise InvalidToken(f"signing method {header.get('alg')} is invalid")
        if header.get("kid") != self.key_id:
            raise InvalidToken("the key id of the token is not in the authorizer's JWKS")
        try:
            _private_key(self.key).public_key().verify(
                _b64url_decode(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise InvalidToken("the token signature is invalid") from None
        if claims.get("iss") != self.issuer:
            raise InvalidToken("the token does not have a valid issuer")
        audience = claims["aud"] if "aud" in claims else claims.get("client_id")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise InvalidToken("the token does not have a valid audience")
        now = time.time()
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise InvalidToken("the token has no expiry")
        if now >= expires:
            raise InvalidToken("the token has expired")
        for name in ("nbf", "iat"):
            if name in claims and (not _is_number(claims[name]) or claims[name] > now):
                raise InvalidToken(f"the token's {name} claim is in the future")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("the token has no subject")
        return claims

    def to_json(self) -> dict[str, str]:
        """``{"issuer", "audience", "key"}``: everything another process needs to mint or check tokens."""
        return {"issuer": self.issuer, "audience": self.audience, "key": self.key}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> LocalJwt:
        """The inverse of :meth:`to_json`."""
        jwt = cls(issuer=data["issuer"], audience=data["audience"], key=data["key"])
        _private_key(jwt.key)  # fail now on a bad key
        return jwt
