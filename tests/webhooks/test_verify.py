"""The webhook verifiers: OIDC push tokens and the Moodle plugin's HMAC signature."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

from lms_bridge.webhooks.verify import (
    CertCache,
    OidcPolicy,
    WebhookRejected,
    sign_moodle,
    verify_moodle,
    verify_oidc,
)

AUDIENCE = "https://bridge.example.edu/webhooks/google/pubsub"
PUSHER = "pubsub-push@lms-bridge.iam.gserviceaccount.com"


def _keypair(kid: str) -> tuple[crypt.RSASigner, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return crypt.RSASigner.from_string(pem_key, key_id=kid), cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def keys() -> tuple[crypt.RSASigner, str, crypt.RSASigner]:
    signer, cert = _keypair("k1")
    stranger, _ = _keypair("k1")
    return signer, cert, stranger


def _token(signer: crypt.RSASigner, **overrides: object) -> str:
    now = int(time.time())
    claims = {"aud": AUDIENCE, "iss": "https://accounts.google.com", "email": PUSHER, "email_verified": True,
              "iat": now, "exp": now + 3600, "sub": "1234"}
    claims.update(overrides)
    return jwt.encode(signer, claims).decode()


def _cache(cert: str, calls: list[str] | None = None) -> CertCache:
    def fetch(url: str, timeout: float) -> tuple[dict[str, str], float | None]:
        if calls is not None:
            calls.append(url)
        return {"k1": cert}, 60.0

    return CertCache("https://certs.test/", fetch=fetch)


POLICY = OidcPolicy(audience=AUDIENCE, service_account_email=PUSHER)


def test_a_valid_push_token_is_accepted(keys) -> None:
    signer, cert, _ = keys
    claims = verify_oidc("Bearer " + _token(signer), POLICY, _cache(cert))
    assert claims["email"] == PUSHER


@pytest.mark.parametrize(("header", "status"), [(None, 401), ("", 401), ("Basic abc", 401),
                                                ("Bearer not-a-jwt", 401)])
def test_missing_or_malformed_tokens_are_401(keys, header, status) -> None:
    _, cert, _ = keys
    with pytest.raises(WebhookRejected) as err:
        verify_oidc(header, POLICY, _cache(cert))
    assert err.value.status == status


def test_a_token_signed_by_another_key_is_401(keys) -> None:
    _, cert, stranger = keys
    with pytest.raises(WebhookRejected) as err:
        verify_oidc("Bearer " + _token(stranger), POLICY, _cache(cert))
    assert err.value.status == 401


def test_an_expired_token_is_401(keys) -> None:
    signer, cert, _ = keys
    old = int(time.time()) - 7200
    with pytest.raises(WebhookRejected) as err:
        verify_oidc("Bearer " + _token(signer, iat=old, exp=old + 600), POLICY, _cache(cert))
    assert err.value.status == 401


@pytest.mark.parametrize("claims", [
    {"aud": "https://elsewhere.example/push"},
    {"iss": "https://evil.example"},
    {"email": "someone@else.iam.gserviceaccount.com"},
    {"email_verified": False},
])
def test_a_genuine_token_for_someone_else_is_403(keys, claims) -> None:
    signer, cert, _ = keys
    with pytest.raises(WebhookRejected) as err:
        verify_oidc("Bearer " + _token(signer, **claims), POLICY, _cache(cert))
    assert err.value.status == 403


def test_certificates_are_cached_and_refetched_for_an_unknown_key(keys) -> None:
    signer, cert, _ = keys
    calls: list[str] = []
    cache = _cache(cert, calls)
    verify_oidc("Bearer " + _token(signer), POLICY, cache)
    verify_oidc("Bearer " + _token(signer), POLICY, cache)
    assert len(calls) == 1
    cache.get("rotated-key")
    assert len(calls) == 2


SECRET = "s3cret"


def _headers(body: bytes, ts: int, secret: str = SECRET, delivery: str = "d-1") -> dict[str, str]:
    return {"X-LmsBridge-Delivery": delivery, "X-LmsBridge-Timestamp": str(ts),
            "X-LmsBridge-Signature": sign_moodle(secret, str(ts), body)}


def test_moodle_signature_matches_the_documented_recipe() -> None:
    import hashlib
    import hmac

    body = b'{"event":"x"}'
    expected = "sha256=" + hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign_moodle("k", "1700000000", body) == expected


def test_a_signed_moodle_post_is_accepted() -> None:
    body = b'{"delivery_id":"d-1"}'
    now = 1_763_900_000
    assert verify_moodle(_headers(body, now), body, SECRET, now=now + 10) == "d-1"


@pytest.mark.parametrize(("mutate", "status"), [
    (lambda h, b: ({k: v for k, v in h.items() if k != "X-LmsBridge-Signature"}, b), 401),
    (lambda h, b: ({**h, "X-LmsBridge-Timestamp": "soon"}, b), 401),
    (lambda h, b: (h, b + b" "), 403),
    (lambda h, b: ({**h, "X-LmsBridge-Signature": sign_moodle("other", h["X-LmsBridge-Timestamp"], b)}, b), 403),
])
def test_tampered_or_unsigned_moodle_posts_are_refused(mutate, status) -> None:
    body = b'{"delivery_id":"d-1"}'
    now = 1_763_900_000
    headers, sent = mutate(_headers(body, now), body)
    with pytest.raises(WebhookRejected) as err:
        verify_moodle(headers, sent, SECRET, now=now)
    assert err.value.status == status


def test_a_replayed_moodle_post_outside_the_window_is_refused() -> None:
    body = b'{"delivery_id":"d-1"}'
    then = 1_763_900_000
    with pytest.raises(WebhookRejected) as err:
        verify_moodle(_headers(body, then), body, SECRET, now=then + 301)
    assert err.value.status == 403


def test_no_configured_secret_accepts_nothing() -> None:
    body = b"{}"
    with pytest.raises(WebhookRejected):
        verify_moodle(_headers(body, 1, secret=""), body, "", now=1)
