"""When two e-mail addresses name the same mailbox, for linking a login to a customer.

Linking by e-mail hands an existing customer account to whoever presents its address, so the
comparison must never say "same" for two different mailboxes. Mail systems treat an address as
exact text, except that nearly all of them ignore the case of ASCII letters. Unicode case
folding and compatibility normalisation go much further and merge distinct characters into
ASCII ones: the Kelvin sign (U+212A) folds to "k", the long s (U+017F) to "s", fullwidth letters
to their ASCII twins, "ß" to "ss". An IdP user with such an address would be matched to another
person's customer.

Hence one rule, `mailbox_key`: an address is compared only if it is printable ASCII as received
(no space, no control character), with a local part and a domain; its key is the address with
ASCII letters lowered and nothing else changed. Any other address has no key and is never
matched to another address.

The ASCII test is made on the address as received, not after Unicode normalisation: NFC itself
maps U+212A (Kelvin) to "K", U+037E (Greek question mark) to ";" and U+1FEF to "`". An ASCII
string is already in NFC, so the key is "exact after NFC, ASCII letters folded" for every
address that has one.

Pure: no I/O.
"""

from __future__ import annotations

_ASCII_LOWER = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "abcdefghijklmnopqrstuvwxyz",
)
# Printable ASCII without space: "!" (0x21) to "~" (0x7E).
_FIRST_PRINTABLE, _LAST_PRINTABLE = 0x21, 0x7E


class UnmatchableEmail(ValueError):
    """An address that is never compared with another; `code` says why, for refusals."""

    def __init__(self, reason: str, code: str):
        super().__init__(reason)
        self.code = code


def mailbox_key(address: str) -> str:
    """The form under which `address` is compared with other addresses.

    Two addresses name the same mailbox when their keys are equal. Raises UnmatchableEmail
    (code `email_not_ascii` or `email_malformed`) for an address that must not be compared.
    """
    if not isinstance(address, str) or not address:
        raise UnmatchableEmail("is empty", "email_malformed")
    if not address.isascii():
        # Before any normalisation: see the module docstring on NFC and the Kelvin sign.
        raise UnmatchableEmail("contains non-ASCII characters", "email_not_ascii")
    if any(not _FIRST_PRINTABLE <= ord(ch) <= _LAST_PRINTABLE for ch in address):
        raise UnmatchableEmail("contains spaces or control characters", "email_malformed")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise UnmatchableEmail("has no local part or no domain", "email_malformed")
    # Only A-Z change: str.lower() would be the same on ASCII, but the table says so outright.
    return address.translate(_ASCII_LOWER)


def same_mailbox(a: str | None, b: str | None) -> bool:
    """Whether `a` and `b` name the same mailbox under `mailbox_key`; False when either has no
    key."""
    if a is None or b is None:
        return False
    try:
        return mailbox_key(a) == mailbox_key(b)
    except UnmatchableEmail:
        return False
