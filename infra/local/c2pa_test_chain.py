"""A throwaway C2PA signing chain (test root CA → end-entity) for the local stack and tests.

Never for production: the key is generated in memory, the root is trusted by nobody, and
a verifier reports the signer as untrusted (`signingCredential.untrusted`) unless told to
trust this root. The certificates follow what c2pa checks of a claim signer (C2PA 2.x
§14.5, c2pa-rs `cert_check`): X.509 v3, ECDSA P-256, the end-entity not a CA, key usage
digitalSignature (critical), an extended key usage c2pa's default list accepts
(id-kp-emailProtection: c2pa-python 0.38's library refuses id-kp-documentSigning and
c2pa-kp-claimSigning with "certificate missing required EKU"; anyExtendedKeyUsage is
refused too), subject and authority key identifiers, and a validity that covers the
signing time. The root signs certificates only.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from headshot_inference.content_credentials import SigningMaterial

EMAIL_PROTECTION: Final = ObjectIdentifier("1.3.6.1.5.5.7.3.4")  # id-kp-emailProtection
ORGANISATION: Final = "Headshot local test (untrusted)"


@dataclass(frozen=True, slots=True)
class ThrowawayChain:
    material: SigningMaterial  # what goes into the Secrets Manager secret
    root_pem: str  # the root, for a verifier told to trust it (tests)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def generate_test_chain(*, days: int = 30, now: datetime.datetime | None = None) -> ThrowawayChain:
    """A fresh root and ES256 claim-signing certificate valid from a minute ago for `days`."""
    start = (now or datetime.datetime.now(datetime.UTC)) - datetime.timedelta(minutes=1)
    end = start + datetime.timedelta(days=days)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("Headshot test root CA"))
        .issuer_name(_name("Headshot test root CA"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(_name("Headshot test claim signer"))
        .issuer_name(root.subject)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signer=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = signer_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # The chain c2pa embeds: end-entity first; the root is left to the verifier's trust list.
    material = SigningMaterial(signer.public_bytes(pem).decode(), key_pem.decode(), "es256")
    return ThrowawayChain(material, root.public_bytes(pem).decode())
