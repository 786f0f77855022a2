"""C2PA Content Credentials on every output: read back with c2pa's own Reader.

Signed with a throwaway chain (infra/local/c2pa_test_chain.py). The Reader is told to trust
its root, so a valid output reads "Trusted" with no failure at all; without that, the one
failure a correct signature shows is `signingCredential.untrusted`.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import threading
from pathlib import Path
from typing import Any, ClassVar, Final

import boto3
import c2pa  # type: ignore[import-untyped]  # ships no type information
import pytest

from headshot.settings import ConfigurationError
from headshot_inference import __version__
from headshot_inference.backends import DST_ALGORITHMICALLY_ENHANCED, DST_COMPOSITE_SYNTHETIC
from headshot_inference.backends.studio import StudioBackend
from headshot_inference.content_credentials import (
    UNTRUSTED,
    ContentCredentials,
    SigningMaterial,
    recipe_version,
    validation_failures,
)
from headshot_inference.metadata import CONTENT_TYPES, read_xmp
from headshot_inference.render import EXIT_KEPT, EXIT_USAGE, RenderResult, render
from headshot_inference.render import main as render_main
from headshot_inference.server import InferenceServer, InferenceService
from headshot_inference.settings import get_settings
from headshot_inference.signing_secret import fetch_signing_material, load_content_credentials
from infra.local.c2pa_test_chain import ThrowawayChain, generate_test_chain
from tests.container.conftest import S3, container_settings, running

pytestmark = pytest.mark.container

# What render() is told about the photos and the job: none of it may reach a manifest.
PRIVATE_NAME: Final = "/home/alice-example/private/alice-selfie-2026.png"
JOB_PREFIX: Final = "r1-job-5f1e2d-"
STYLES: Final = ("studio_gray", "office_blur")
HASH_MATCH: Final = "assertion.dataHash.match"
HASH_MISMATCH: Final = "assertion.dataHash.mismatch"


@pytest.fixture(scope="module")
def chain() -> ThrowawayChain:
    return generate_test_chain()


@pytest.fixture(scope="module")
def credentials(chain: ThrowawayChain) -> ContentCredentials:
    return ContentCredentials(chain.material)


@pytest.fixture(scope="module")
def trusting(chain: ThrowawayChain) -> Any:
    """A Reader context that trusts the test root (as a verifier trusts the C2PA trust list)."""
    return c2pa.Context.from_dict({"verify": {"verify_trust": True}, "trust": {"trust_anchors": chain.root_pem}})


@pytest.fixture(scope="module", params=["jpeg", "png"])
def rendered(
    request: pytest.FixtureRequest, studio: StudioBackend, astronaut: bytes, credentials: ContentCredentials
) -> RenderResult:
    return render(
        [astronaut],
        list(STYLES),
        1,
        7,
        studio,
        names=[PRIVATE_NAME],
        image_format=request.param,
        id_prefix=JOB_PREFIX,
        credentials=credentials,
    )


def read(data: bytes, content_type: str, context: Any = None) -> tuple[str, dict[str, Any], dict[str, Any], str]:
    """(validation state, validation results, active manifest, the whole store as JSON)."""
    with c2pa.Reader(content_type, io.BytesIO(data), context=context) as reader:
        return (
            reader.get_validation_state(),
            reader.get_validation_results(),
            reader.get_active_manifest(),
            reader.json(),
        )


def created_action(manifest: dict[str, Any]) -> dict[str, Any]:
    (actions,) = [a["data"]["actions"] for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    (action,) = actions
    assert action["action"] == "c2pa.created"
    return dict(action)


def pixel_offset(data: bytes) -> int:
    """An offset inside the compressed pixels (JPEG scan data, PNG IDAT), away from any header."""
    if data.startswith(b"\x89PNG"):
        start = data.index(b"IDAT") + 4
        length = int.from_bytes(data[start - 8 : start - 4], "big")
        return start + length // 2
    start = data.rindex(b"\xff\xda")  # start of scan; the JUMBF store is before it
    return start + (len(data) - start) // 2


def test_every_output_carries_a_signed_manifest_bound_to_its_bytes(rendered: RenderResult, trusting: Any) -> None:
    # Given every output of a studio render (kept and rejected alike), signed with the test chain
    assert {image.style for image in rendered.images} == set(STYLES)
    for image in rendered.images:
        # When c2pa's Reader reads it back, trusting the test root
        state, results, manifest, _ = read(image.data, image.content_type, trusting)
        active = results["activeManifest"]
        # Then the signature, the certificate chain and the hash binding all validate
        assert state == "Trusted", active
        assert active.get("failure", []) == []
        codes = {entry["code"] for entry in active["success"]}
        assert {"claimSignature.validated", HASH_MATCH} <= codes
        # And the claim names our generator, the image's IPTC source type, backend and recipe
        assert manifest["claim_generator_info"][0]["name"] == "headshot-inference"
        assert manifest["claim_generator_info"][0]["version"] == __version__
        action = created_action(manifest)
        expected = DST_ALGORITHMICALLY_ENHANCED if image.style == "office_blur" else DST_COMPOSITE_SYNTHETIC
        assert action["digitalSourceType"] == expected
        assert action["softwareAgent"] == {"name": "headshot-inference", "version": __version__}
        assert action["parameters"] == {"backend": "studio", "recipe_version": f"studio/{__version__}"}
        assert manifest["signature_info"]["alg"].lower() == "es256"


def test_the_xmp_disclosure_survives_signing_and_agrees_with_the_claim(rendered: RenderResult) -> None:
    for image in rendered.images:
        # Given a signed output
        _, _, manifest, _ = read(image.data, image.content_type)
        # When its XMP packet is read the plain way
        xmp = read_xmp(image.data)
        # Then the IPTC DigitalSourceType is still there, the same term the signed claim names
        assert xmp is not None
        assert f'Iptc4xmpExt:DigitalSourceType="{created_action(manifest)["digitalSourceType"]}"'.encode() in xmp


def test_no_personal_data_or_face_thumbnail_in_the_manifest(rendered: RenderResult) -> None:
    for image in rendered.images:
        # Given a signed output of photos with a personal file name, in a job
        _, _, manifest, store = read(image.data, image.content_type)
        # Then neither the photo's name, nor the job's ids, nor the image id is in the manifest store
        for private in ("alice", "selfie", "private", "job-5f1e2d", image.image_id):
            assert private not in store
        # And there is no claim thumbnail (a second copy of the face) and no ingredient (the photo)
        assert "thumbnail" not in manifest
        assert manifest.get("ingredients", []) == []
        assert "title" not in manifest


@pytest.mark.parametrize("where", ["pixels", "xmp"])
def test_changing_one_byte_breaks_the_hash_binding(rendered: RenderResult, trusting: Any, where: str) -> None:
    # Given a signed output that validates
    image = rendered.images[0]
    assert validation_failures(image.data, image.content_type, context=trusting) == []
    # When one byte of its compressed pixels (or of its XMP disclosure) is changed
    tampered = bytearray(image.data)
    offset = pixel_offset(image.data) if where == "pixels" else image.data.index(b"DigitalSourceType=") + 20
    tampered[offset] ^= 0x01
    # Then c2pa's Reader reports the data hash mismatch and the manifest as invalid
    state, results, _, _ = read(bytes(tampered), image.content_type, trusting)
    codes = {entry["code"] for entry in results["activeManifest"].get("failure", [])}
    assert HASH_MISMATCH in codes
    assert state == "Invalid"


def test_without_trusting_the_test_root_only_trust_is_missing(rendered: RenderResult) -> None:
    # Given a signed output, read by a verifier that does not know the throwaway root
    image = rendered.images[-1]
    # Then the only failure is the untrusted signer: structure, signature and binding are valid
    assert validation_failures(image.data, image.content_type) == [UNTRUSTED]
    state, _, _, _ = read(image.data, image.content_type)
    assert state == "Valid"


def test_render_without_credentials_writes_xmp_only(studio: StudioBackend, astronaut: bytes) -> None:
    # Given a render with no signer (a CLI run without HEADSHOT_C2PA_SECRET_ARN)
    result = render([astronaut], ["studio_gray"], 1, 7, studio, image_format="png")
    # Then its output has the XMP disclosure and no manifest at all
    (image,) = result.images
    assert read_xmp(image.data) is not None
    assert c2pa.Reader.try_create(CONTENT_TYPES["png"], io.BytesIO(image.data)) is None


# ---------------------------------------------------------------------------------------
# the signing material


def test_recipe_version_is_the_recipe_hash_when_the_backend_reports_one(studio: StudioBackend) -> None:
    # Given a backend whose info names its recipe file's hash (as the diffusion backend's does)
    class WithRecipe:
        name = "diffusion"
        info: ClassVar[dict[str, Any]] = {"recipe_sha256": "ab" * 32, "steps": 30}

    # Then that hash is the recipe version; the studio (no recipe file) is named by its code version
    assert recipe_version(WithRecipe()) == "sha256:" + "ab" * 32  # type: ignore[arg-type]
    assert recipe_version(studio) == f"studio/{__version__}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"algorithm": "rsa1024"}, "algorithm must be one of"),
        ({"certificate_chain_pem": "not a certificate"}, "certificate_chain_pem"),
        ({"private_key_pem": None}, "private_key_pem"),
        ({"timestamp_url": "ftp://tsa.example"}, "timestamp_url"),
    ],
)
def test_a_malformed_secret_names_the_field_and_never_the_key(
    chain: ThrowawayChain, change: dict[str, Any], message: str
) -> None:
    # Given the secret's JSON with one field wrong
    document = json.loads(chain.material.to_json()) | change
    # When it is parsed
    with pytest.raises(ConfigurationError) as error:
        SigningMaterial.from_json(json.dumps(document), source="arn:test")
    # Then the message names the source and the field, and holds no key material
    assert message in str(error.value) and "arn:test" in str(error.value)
    assert "PRIVATE KEY" not in str(error.value)
    assert "PRIVATE KEY" not in repr(chain.material)


def test_a_key_that_does_not_match_its_certificate_fails_at_load(chain: ThrowawayChain) -> None:
    # Given the certificate of one chain and the private key of another
    other = generate_test_chain()
    material = SigningMaterial(chain.material.certificate_chain_pem, other.material.private_key_pem, "es256")
    # When the signer is created, then it refuses at once (its self-check signature does not validate)
    with pytest.raises(ConfigurationError, match="source-x"):
        ContentCredentials(material, source="source-x")


def test_an_expired_certificate_fails_at_load() -> None:
    # Given a chain whose certificates expired yesterday
    expired = generate_test_chain(days=1, now=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3))
    # Then the signer refuses to start rather than sign outputs no verifier accepts
    with pytest.raises(ConfigurationError, match="not valid at time of signing"):
        ContentCredentials(expired.material)


def test_the_setting_takes_only_a_secrets_manager_arn(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:headshot/c2pa-AbCdEf"
    assert container_settings(tmp_path, HEADSHOT_C2PA_SECRET_ARN=arn).c2pa_secret_arn == arn
    assert container_settings(tmp_path).c2pa_secret_arn is None
    with pytest.raises(ConfigurationError, match="HEADSHOT_C2PA_SECRET_ARN"):
        container_settings(tmp_path, HEADSHOT_C2PA_SECRET_ARN="headshot/c2pa")


def test_the_signing_material_comes_from_secrets_manager(aws_env: dict[str, str], chain: ThrowawayChain) -> None:
    # Given the secret in Secrets Manager (moto, through AWS_ENDPOINT_URL like the container)
    arn = boto3.client("secretsmanager").create_secret(Name="c2pa-test", SecretString=chain.material.to_json())["ARN"]
    # When the container reads it
    material = fetch_signing_material(arn)
    # Then it holds what was stored, and a signer built from it works
    assert material == chain.material
    assert load_content_credentials(arn) is not None


def test_a_missing_secret_fails_with_its_arn(aws_env: dict[str, str]) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nothing-here-AbCdEf"
    with pytest.raises(ConfigurationError, match=r"nothing-here.*ResourceNotFoundException"):
        fetch_signing_material(arn)


def test_no_secret_means_unsigned_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="headshot_inference.signing_secret"):
        assert load_content_credentials(None) is None
    assert "HEADSHOT_C2PA_SECRET_ARN is not set" in caplog.text


# ---------------------------------------------------------------------------------------
# the server


def test_the_server_refuses_to_start_unsigned_unless_told_to(tmp_path: Path, studio: StudioBackend) -> None:
    # Given a server with no signing secret and no explicit opt-out (an image deployed by hand)
    settings = container_settings(tmp_path, HEADSHOT_UNSIGNED_OUTPUTS="false")
    # When it loads
    refused = InferenceService(settings, studio)
    with pytest.raises(ConfigurationError, match="HEADSHOT_UNSIGNED_OUTPUTS=true"):
        refused.load()
    # Then it never becomes ready; with the opt-out it does (tests, local experiments)
    assert not refused.ready.is_set()
    unsigned = InferenceService(container_settings(tmp_path), studio)
    unsigned.load()
    assert unsigned.ready.is_set()


def test_the_server_signs_what_it_writes_to_s3(
    tmp_path: Path, s3: S3, studio: StudioBackend, astronaut: bytes, chain: ThrowawayChain, trusting: Any
) -> None:
    # Given a server configured with the signing secret, and an accepted photo in S3
    arn = boto3.client("secretsmanager").create_secret(Name="c2pa-srv", SecretString=chain.material.to_json())["ARN"]
    uri = s3.put("photos/job-123/p1.png", astronaut)
    document = {
        "job_id": "job-123", "round": 1, "photos": [uri], "styles": ["studio_gray"], "variants": 1, "seed": 3,
        "output_prefix": f"s3://{s3.bucket}/results/job-123/",
    }  # fmt: skip
    with running(studio, container_settings(tmp_path, HEADSHOT_C2PA_SECRET_ARN=arn)) as server:
        server.wait_ready()
        # When an invocation runs
        status, manifest = server.invoke(document)
    # Then every image it delivered validates, and names no job or user
    assert status == 200, manifest
    kept = [image for image in manifest["images"] if image["kept"]]
    assert kept
    for image in kept:
        data, content_type = s3.get(image["key"])
        state, _, _, store = read(data, content_type, trusting)
        assert state == "Trusted"
        assert "job-123" not in store and "p1.png" not in store


def test_the_server_does_not_start_with_an_unreadable_secret(
    tmp_path: Path, aws_env: dict[str, str], studio: StudioBackend
) -> None:
    # Given a server whose signing secret does not exist
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gone-AbCdEf"
    server = InferenceServer(container_settings(tmp_path, HEADSHOT_C2PA_SECRET_ARN=arn), studio)
    # When it runs, then it exits 1 during load and never becomes ready
    thread = threading.Thread(target=lambda: server.run(), daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert server.exit_code == 1
    assert not server.service.ready.is_set()


# ---------------------------------------------------------------------------------------
# headshot render


def test_headshot_render_signs_when_the_secret_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_env: dict[str, str], astronaut: bytes, trusting: Any,
    chain: ThrowawayChain,
) -> None:  # fmt: skip
    # Given the signing secret in Secrets Manager and named by HEADSHOT_C2PA_SECRET_ARN
    arn = boto3.client("secretsmanager").create_secret(Name="c2pa-cli", SecretString=chain.material.to_json())["ARN"]
    monkeypatch.setenv("HEADSHOT_C2PA_SECRET_ARN", arn)
    get_settings.cache_clear()
    photo = tmp_path / "alice-selfie.png"
    photo.write_bytes(astronaut)
    try:
        # When `headshot render` runs
        code = render_main([str(photo), "--out", str(tmp_path / "out"), "--backend", "studio", "--variants", "1"])
    finally:
        get_settings.cache_clear()
    # Then every image it wrote validates and does not name the photo
    assert code == EXIT_KEPT
    written = sorted((tmp_path / "out").glob("*.jpg"))
    assert written
    for path in written:
        state, _, _, store = read(path.read_bytes(), "image/jpeg", trusting)
        assert state == "Trusted"
        assert "alice" not in store


def test_headshot_render_refuses_an_unreadable_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_env: dict[str, str], astronaut: bytes
) -> None:
    # Given HEADSHOT_C2PA_SECRET_ARN naming a secret that does not exist
    monkeypatch.setenv("HEADSHOT_C2PA_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:no-AbCdEf")
    get_settings.cache_clear()
    photo = tmp_path / "me.png"
    photo.write_bytes(astronaut)
    try:
        # When `headshot render` runs, then it stops with a usage error and writes nothing unsigned
        assert render_main([str(photo), "--out", str(tmp_path / "out"), "--backend", "studio"]) == EXIT_USAGE
    finally:
        get_settings.cache_clear()
    assert not (tmp_path / "out").exists()
