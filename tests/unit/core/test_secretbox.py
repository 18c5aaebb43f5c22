"""Secrets at rest: AES-GCM bound to a context, with master-key rotation."""

from __future__ import annotations

import base64

import pytest

from adapter.core.secretbox import SecretBox, SecretBoxError

OLD_KEY = "old-master-key-0123456789abcdef"
NEW_KEY = "new-master-key-fedcba9876543210"
CONTEXT = "stores.client_secret:7"


def test_sealed_secret_opens_to_the_same_text() -> None:
    box = SecretBox(NEW_KEY)
    sealed = box.seal("s3cr3t-ä", context=CONTEXT)
    assert sealed.startswith("v1.")
    assert "s3cr3t" not in sealed
    assert box.open(sealed, context=CONTEXT) == "s3cr3t-ä"


def test_sealing_twice_gives_different_ciphertexts() -> None:
    box = SecretBox(NEW_KEY)
    assert box.seal("same", context=CONTEXT) != box.seal("same", context=CONTEXT)


def test_secret_copied_to_another_row_does_not_open() -> None:
    box = SecretBox(NEW_KEY)
    sealed = box.seal("s3cr3t", context="stores.client_secret:7")
    with pytest.raises(SecretBoxError):
        box.open(sealed, context="stores.client_secret:8")


def test_tampered_ciphertext_is_refused() -> None:
    box = SecretBox(NEW_KEY)
    prefix, key_id, body = box.seal("s3cr3t", context=CONTEXT).split(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[-1] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(SecretBoxError):
        box.open(f"{prefix}.{key_id}.{tampered}", context=CONTEXT)


@pytest.mark.parametrize(
    "token",
    ["", "v1", "v1.abcd", "v2.abcd.AAAA", "v1.00000000.AAAA", "v1.abcd.!!!"],
    ids=["empty", "prefix-only", "two-parts", "unknown-version", "unknown-key", "bad-base64"],
)
def test_malformed_ciphertext_is_refused(token: str) -> None:
    with pytest.raises(SecretBoxError):
        SecretBox(NEW_KEY).open(token, context=CONTEXT)


def test_secret_sealed_by_another_master_key_does_not_open() -> None:
    sealed = SecretBox(OLD_KEY).seal("s3cr3t", context=CONTEXT)
    with pytest.raises(SecretBoxError) as refused:
        SecretBox(NEW_KEY).open(sealed, context=CONTEXT)
    # Which secret, and why: a key the box does not hold (never the value).
    message = str(refused.value)
    assert CONTEXT in message and "master key" in message and "s3cr3t" not in message


def test_a_refusal_says_which_secret_and_why() -> None:
    box = SecretBox(NEW_KEY)
    with pytest.raises(SecretBoxError, match=r"stores\.client_secret:8: does not decrypt"):
        box.open(box.seal("x", context="stores.client_secret:7"), context="stores.client_secret:8")
    with pytest.raises(SecretBoxError, match="not a sealed value"):
        box.open("plaintext", context=CONTEXT)


def test_old_key_still_opens_after_rotation_and_the_value_needs_resealing() -> None:
    sealed_before = SecretBox(OLD_KEY).seal("s3cr3t", context=CONTEXT)
    rotated = SecretBox(NEW_KEY, OLD_KEY)
    assert rotated.open(sealed_before, context=CONTEXT) == "s3cr3t"
    assert rotated.needs_reseal(sealed_before)

    resealed = rotated.seal("s3cr3t", context=CONTEXT)
    assert not rotated.needs_reseal(resealed)
    # Once the old key is dropped, only what was resealed still opens.
    assert SecretBox(NEW_KEY).open(resealed, context=CONTEXT) == "s3cr3t"


def test_empty_master_key_is_refused() -> None:
    with pytest.raises(SecretBoxError):
        SecretBox("")


def test_lookup_hash_is_stable_for_one_master_key() -> None:
    first = SecretBox(NEW_KEY).lookup_hash("one-time-value")
    assert first == SecretBox(NEW_KEY).lookup_hash("one-time-value")
    assert first != SecretBox(NEW_KEY).lookup_hash("another-value")
    assert len(first) == 64


def test_lookup_hash_survives_a_master_key_rotation() -> None:
    # Logins in flight and replay ledgers are found by this hash: a rotation must not hide them.
    assert SecretBox(NEW_KEY).lookup_hash("v") == SecretBox(OLD_KEY).lookup_hash("v")
