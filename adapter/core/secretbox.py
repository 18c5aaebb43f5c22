"""Encryption of stored secrets and short-lived login values, at rest.

AES-256-GCM with a key derived (HKDF-SHA256) from SSO_ADAPTER_SECRET_KEY. Each ciphertext
names the key it was sealed with (`v1.<key id>.<nonce+ciphertext>`), so a new master key can
be introduced while the old one still opens what it sealed. The associated data binds a
ciphertext to its column and row, so a value copied into another row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1"


class SecretBoxError(Exception):
    pass


def _derive(master: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        master.encode()
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SecretBox:
    def __init__(self, master_key: str, *old_master_keys: str):
        if not master_key:
            raise SecretBoxError("empty master key")
        self._keys: dict[str, AESGCM] = {}
        self._current = self._add(master_key)
        for old in old_master_keys:
            self._add(old)

    def _add(self, master: str) -> str:
        key = _derive(master, b"sso-adapter secret box v1")
        key_id = hashlib.sha256(key).hexdigest()[:8]
        self._keys[key_id] = AESGCM(key)
        return key_id

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_PREFIX}.{self._current}.{_b64(nonce + sealed)}"

    def open(self, token: str, *, context: str) -> str:
        """The plaintext; SecretBoxError naming the secret (its context, never its value) and
        why: not sealed by this box, sealed under a master key it does not hold, or altered or
        moved to another field."""
        try:
            prefix, key_id, body = token.split(".", 2)
        except ValueError:
            raise SecretBoxError(f"stored secret {context}: not a sealed value") from None
        if prefix != _PREFIX:
            raise SecretBoxError(f"stored secret {context}: not a sealed value")
        aead = self._keys.get(key_id)
        if aead is None:
            raise SecretBoxError(
                f"stored secret {context}: sealed with master key {key_id}, which is neither "
                f"SSO_ADAPTER_SECRET_KEY ({self._current}) nor one of "
                "SSO_ADAPTER_OLD_SECRET_KEYS: start with the key the database was sealed with"
            )
        try:
            data = _unb64(body)
            return aead.decrypt(data[:12], data[12:], context.encode()).decode()
        except (ValueError, InvalidTag) as exc:
            raise SecretBoxError(
                f"stored secret {context}: does not decrypt under its key "
                "(altered, or copied from another field)"
            ) from exc

    def needs_reseal(self, token: str) -> bool:
        return not token.startswith(f"{_PREFIX}.{self._current}.")

    @staticmethod
    def lookup_hash(value: str) -> str:
        """A hash to find a row by a value that must not itself be stored.

        Unkeyed on purpose: the values hashed (states, browser ids) are 256-bit random or
        public (assertion ids), so the hash reveals nothing, and it stays the same when the
        master key is rotated, so logins in flight and replay ledgers survive a rotation.
        """
        return hashlib.sha256(value.encode()).hexdigest()
