"""The agent's JOSE: EdDSA compact JWS only, the key named by `kid`, the expected `typ`; and it
agrees with the marketplace's own signing code in both directions."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from marketplace_agent import jose

from marketplace import signing
from tests.agent.bundles import Signer, with_header, with_payload

PAYLOAD = {"jti": "3d0f0e52-1a7b-4c1e-9d1c-0a9c1e2f3b4d", "site": "main-campus", "exp": 2_000_000_000}


def test_a_signed_document_verifies_with_the_key_its_kid_names() -> None:
    old, current = Signer(kid="2025"), Signer(kid="2026")
    token = current.sign(PAYLOAD, "license+jwt")
    assert jose.verify(token, old.jwks(current), typ="license+jwt") == PAYLOAD
    assert jose.unverified_header(token) == {"alg": "EdDSA", "kid": "2026", "typ": "license+jwt"}


def test_an_unknown_kid_is_refused() -> None:
    signer, stranger = Signer(kid="ours"), Signer(kid="theirs")
    with pytest.raises(jose.VerificationError, match="unknown signing key 'theirs'"):
        jose.verify(stranger.sign(PAYLOAD, "license+jwt"), signer.jwks())


def test_a_key_published_under_the_signers_kid_but_different_does_not_verify() -> None:
    signer, impostor = Signer(kid="k1"), Signer(kid="k1")
    with pytest.raises(jose.VerificationError, match="bad signature"):
        jose.verify(impostor.sign(PAYLOAD, "license+jwt"), signer.jwks())


def test_alg_none_is_refused_even_without_a_signature() -> None:
    signer = Signer()
    token = with_header(signer.sign(PAYLOAD, "license+jwt"), {"alg": "none"}, signature="")
    with pytest.raises(jose.VerificationError, match="algorithm 'none' is not allowed"):
        jose.verify(token, signer.jwks())


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256", None])
def test_only_eddsa_is_accepted(alg: str | None) -> None:
    signer = Signer()
    token = with_header(signer.sign(PAYLOAD, "license+jwt"), {"alg": alg})
    with pytest.raises(jose.VerificationError, match="is not allowed"):
        jose.verify(token, signer.jwks())


def test_a_changed_payload_breaks_the_signature() -> None:
    signer = Signer()
    token = with_payload(signer.sign(PAYLOAD, "license+jwt"), {"site": "another-campus"})
    with pytest.raises(jose.VerificationError, match="bad signature"):
        jose.verify(token, signer.jwks())


def test_a_changed_signature_is_refused() -> None:
    signer = Signer()
    header, payload, signature = signer.sign(PAYLOAD, "license+jwt").split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(jose.VerificationError, match="bad signature"):
        jose.verify(f"{header}.{payload}.{flipped}", signer.jwks())


def test_the_wrong_document_type_is_refused() -> None:
    """A manifest cannot be passed off as a license, nor a license as a revocation list."""
    signer = Signer()
    with pytest.raises(jose.VerificationError, match="expected a license\\+jwt document"):
        jose.verify(signer.sign(PAYLOAD, "manifest+jwt"), signer.jwks(), typ="license+jwt")


@pytest.mark.parametrize("extra", [{"crit": ["b64"]}, {"b64": False}])
def test_headers_that_change_processing_are_refused(extra: dict[str, object]) -> None:
    signer = Signer()
    token = with_header(signer.sign(PAYLOAD, "license+jwt"), extra)
    with pytest.raises(jose.VerificationError, match="unsupported JWS header"):
        jose.verify(token, signer.jwks())


@pytest.mark.parametrize(
    "token",
    [
        "",
        "only.two",
        "a.b.c.d",
        "!!!.e30.",
        jose.b64url_encode(b"[1]") + ".e30.",
        jose.b64url_encode(b'{"alg":"EdDSA"}') + "." + jose.b64url_encode(b"not json") + ".",
        "éé.e30.",
    ],
)
def test_malformed_tokens_are_verification_errors(token: str) -> None:
    with pytest.raises(jose.VerificationError):
        jose.verify(token, Signer().jwks())


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "RSA", "n": "x", "e": "AQAB"},
        {"kty": "OKP", "crv": "X25519", "x": "AAAA"},
        {"kty": "OKP", "crv": "Ed25519"},
        {"kty": "OKP", "crv": "Ed25519", "x": "c2hvcnQ"},
    ],
)
def test_keys_that_are_not_ed25519_public_keys_never_verify(jwk: dict[str, str]) -> None:
    signer = Signer(kid="k")
    with pytest.raises(jose.VerificationError):
        jose.verify(signer.sign(PAYLOAD, "license+jwt"), {"keys": [{"kid": "k", **jwk}]})


def test_the_key_id_is_the_rfc_7638_thumbprint() -> None:
    """RFC 8037, appendix A.3: the thumbprint of the example Ed25519 key."""
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jose.key_id(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_the_private_key_round_trips_through_pem_and_the_public_jwk_has_no_private_part() -> None:
    pem = jose.new_private_key_pem()
    key = jose.load_private_key(pem)
    jwk = jose.public_jwk(key)
    assert set(jwk) == {"kty", "crv", "x"}
    assert jose.public_jwk(jose.load_private_key(pem)) == jwk


def test_a_key_that_is_not_ed25519_is_refused_as_the_agent_key() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(jose.VerificationError, match="not Ed25519"):
        jose.load_private_key(pem)


def test_documents_the_marketplace_signs_verify_with_the_agent() -> None:
    pem = signing.generate_ed25519_private_key_pem()
    jwks = {"keys": [signing.public_jwk(pem, "platform-1")]}
    token = signing.jws_sign(PAYLOAD, private_key_pem=pem, kid="platform-1", typ="license+jwt")
    assert jose.verify(token, jwks, typ="license+jwt") == PAYLOAD


def test_receipts_the_agent_signs_verify_with_the_marketplace() -> None:
    key = jose.load_private_key(jose.new_private_key_pem())
    public = jose.public_jwk(key)
    token = jose.sign({"type": "installation_receipt", "public_key": public}, key, kid=jose.key_id(public), typ="t")
    verified = signing.jws_verify(token, jwks={"keys": [{**public, "kid": jose.key_id(public)}]})
    assert verified["public_key"] == public
    # Compact JSON, as the marketplace writes it: the payload is byte-for-byte what was signed.
    assert json.loads(jose.b64url_decode(token.split(".")[1])) == verified
