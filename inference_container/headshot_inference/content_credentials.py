"""C2PA Content Credentials: a signed manifest in every delivered image (EU AI Act Art. 50).

The XMP packet (metadata.py) says how an image was made, but anyone can write XMP. A C2PA
manifest says the same in a claim signed with our certificate and bound to the image's
bytes by a hash, so a verifier (LinkedIn's "CR" mark, c2patool, contentcredentials.org)
can tell that the disclosure is ours and that the pixels are the ones we delivered.

What the claim holds, and nothing else (no job id, user id, photo name or face data):
- a `c2pa.actions.v2` assertion with one `c2pa.created` action whose `digitalSourceType`
  is the image's IPTC term (the same one the XMP carries), naming headshot-inference as
  the software agent and the backend and recipe version as the action's parameters;
- `claim_generator_info`: headshot-inference and its version;
- the hard binding (`c2pa.hash.data`) and the signature, which c2pa adds itself.

The claim thumbnail c2pa would add by default is switched off: it would be a second copy
of the person's face in the file (about 130 KB per 1024² output) that no verifier needs.

Signing runs after the XMP is in place: c2pa inserts its JUMBF store (JPEG APP11, PNG
caBX chunk) beside it and leaves it alone, and the hash covers the XMP too.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import c2pa  # type: ignore[import-untyped]  # ships no type information
import numpy as np

from headshot.settings import ConfigurationError
from headshot_inference import __version__
from headshot_inference.backends import DST_TRAINED_ALGORITHMIC_MEDIA
from headshot_inference.metadata import encode, xmp_packet

if TYPE_CHECKING:
    from headshot_inference.backends import Backend

GENERATOR: Final = "headshot-inference"
ALGORITHMS: Final = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "es512": c2pa.C2paSigningAlg.ES512,
    "ps256": c2pa.C2paSigningAlg.PS256,
    "ps384": c2pa.C2paSigningAlg.PS384,
    "ps512": c2pa.C2paSigningAlg.PS512,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}
# The one validation failure a signature of ours may show without being wrong: trust is the
# verifier's decision (its trust list), not something the signer can check.
UNTRUSTED: Final = "signingCredential.untrusted"
_BUILDER_SETTINGS: Final = {"builder": {"thumbnail": {"enabled": False}}}


class ContentCredentialsError(RuntimeError):
    """Signing an output failed: a fault on our side (500), never the request's."""


@dataclass(frozen=True, slots=True)
class SigningMaterial:
    """The signing key and its certificate chain, as the Secrets Manager secret holds them."""

    certificate_chain_pem: str  # end-entity certificate first, then intermediates
    private_key_pem: str = field(repr=False)
    algorithm: str  # one of ALGORITHMS
    timestamp_url: str | None = None  # RFC 3161 TSA: keeps signatures valid past the cert's expiry

    @classmethod
    def from_json(cls, text: str, *, source: str) -> SigningMaterial:
        """Parse the secret's JSON; ConfigurationError naming `source` and the field (never the key)."""
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigurationError(f"{source}: the C2PA signing secret is not JSON") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{source}: the C2PA signing secret must be a JSON object")
        errors = []
        chain, key = data.get("certificate_chain_pem"), data.get("private_key_pem")
        algorithm = str(data.get("algorithm", "")).strip().lower()
        if not isinstance(chain, str) or "-----BEGIN CERTIFICATE-----" not in chain:
            errors.append("certificate_chain_pem must hold PEM certificates (end-entity first)")
        if not isinstance(key, str) or "PRIVATE KEY-----" not in key:
            errors.append("private_key_pem must hold a PEM private key")
        if algorithm not in ALGORITHMS:
            errors.append(f"algorithm must be one of {', '.join(ALGORITHMS)}")
        timestamp_url = data.get("timestamp_url") or None
        if timestamp_url is not None and not (isinstance(timestamp_url, str) and timestamp_url.startswith("http")):
            errors.append("timestamp_url must be an http(s) URL when set")
        if errors:
            raise ConfigurationError(f"{source}: " + "; ".join(errors))
        assert isinstance(chain, str) and isinstance(key, str)
        return cls(chain, key, algorithm, timestamp_url)

    def to_json(self) -> str:
        """The secret's JSON (what an operator stores; the local stack and tests write it)."""
        document: dict[str, str] = {
            "certificate_chain_pem": self.certificate_chain_pem,
            "private_key_pem": self.private_key_pem,
            "algorithm": self.algorithm,
        }
        if self.timestamp_url:
            document["timestamp_url"] = self.timestamp_url
        return json.dumps(document)


@dataclass(frozen=True, slots=True)
class Claim:
    """What one output's manifest says about how it was made."""

    digital_source_type: str  # an IPTC digital source type IRI
    backend: str
    recipe_version: str


def recipe_version(backend: Backend) -> str:
    """The recipe that made the images, as a string a verifier can compare.

    The diffusion backend reports its recipe.json's SHA-256 in `info`; the studio backend
    has no recipe file (its recipe is its code), so it is named by the code's version.
    """
    info = getattr(backend, "info", None)
    digest = info.get("recipe_sha256") if isinstance(info, Mapping) else None
    if isinstance(digest, str) and digest:
        return f"sha256:{digest}"
    return f"{backend.name}/{__version__}"


def manifest_definition(claim: Claim) -> dict[str, Any]:
    """The manifest c2pa's Builder signs: the claim generator and one c2pa.created action."""
    agent = {"name": GENERATOR, "version": __version__}
    action = {
        "action": "c2pa.created",
        "digitalSourceType": claim.digital_source_type,
        "softwareAgent": agent,
        "parameters": {"backend": claim.backend, "recipe_version": claim.recipe_version},
    }
    return {
        "claim_generator_info": [agent],
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [action]}}],
    }


class ContentCredentials:
    """Signs manifests into JPEG and PNG bytes with one key, loaded once per process."""

    def __init__(self, material: SigningMaterial, *, source: str = "the C2PA signing secret") -> None:
        info = c2pa.C2paSignerInfo(
            ALGORITHMS[material.algorithm],
            material.certificate_chain_pem.encode("utf-8"),
            material.private_key_pem.encode("utf-8"),
            material.timestamp_url.encode("utf-8") if material.timestamp_url else None,
        )
        try:
            self._signer = c2pa.Signer.from_info(info)
        except c2pa.C2paError as error:
            raise ConfigurationError(f"{source}: c2pa refused the key or certificates ({error})") from None
        self._context = c2pa.Context.from_dict(_BUILDER_SETTINGS)
        # One signature at a time: it takes milliseconds, and the native signer's handle is
        # then never shared between threads.
        self._lock = threading.Lock()
        self._check(source)

    def sign(self, data: bytes, content_type: str, claim: Claim) -> bytes:
        """`data` (a JPEG or PNG we encoded) with a signed manifest of `claim` embedded."""
        signed = io.BytesIO()
        try:
            with self._lock, c2pa.Builder(manifest_definition(claim), context=self._context) as builder:
                builder.sign(self._signer, content_type, io.BytesIO(data), signed)
        except c2pa.C2paError as error:
            raise ContentCredentialsError(f"signing the {content_type} output failed: {error}") from error
        return signed.getvalue()

    def _check(self, source: str) -> None:
        """Sign a tiny image at load and read it back, so a key that does not match its
        certificate, an expired certificate or a wrong algorithm stops the start, not a job."""
        dst = DST_TRAINED_ALGORITHMIC_MEDIA
        probe = encode(np.full((16, 16, 3), 128, np.uint8), "jpeg", xmp_packet(dst, backend="self-check"))
        try:
            signed = self.sign(probe, "image/jpeg", Claim(dst, "self-check", "self-check"))
            failures = validation_failures(signed, "image/jpeg")
        except (ContentCredentialsError, c2pa.C2paError) as error:
            raise ConfigurationError(f"{source}: signing a test image failed ({error})") from None
        wrong = sorted({code for code in failures if code != UNTRUSTED})
        if wrong:
            raise ConfigurationError(f"{source}: a test signature does not validate ({', '.join(wrong)})")


def validation_failures(data: bytes, content_type: str, *, context: Any = None) -> list[str]:
    """The failure codes c2pa's Reader reports for the active manifest (empty: all valid)."""
    with c2pa.Reader(content_type, io.BytesIO(data), context=context) as reader:
        results = reader.get_validation_results() or {}
    active = results.get("activeManifest") or {}
    return [str(entry.get("code")) for entry in active.get("failure", [])]
