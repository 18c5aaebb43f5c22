"""The one rule for comparing e-mail addresses: exact, ASCII letters case-insensitive, and
no match at all for an address with anything but printable ASCII in it."""

from __future__ import annotations

import unicodedata

import pytest

from adapter.core.emails import UnmatchableEmail, mailbox_key, same_mailbox

KELVIN = "\u212a"  # KELVIN SIGN, case-folds (and NFC-normalises) to "K"/"k"
LONG_S = "\u017f"  # LATIN SMALL LETTER LONG S, case-folds to "s"
DOTLESS_I = "\u0131"  # LATIN SMALL LETTER DOTLESS I, upper-cases to "I"
DOTTED_CAPITAL_I = "\u0130"  # LATIN CAPITAL LETTER I WITH DOT ABOVE, lower-cases to "i̇"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ada@example.com", "ada@example.com"),
        ("Ada@Example.COM", "ada@example.com"),
        ("ADA.LOVELACE+shop@EXAMPLE.com", "ada.lovelace+shop@example.COM"),
        ("kate@example.com", "KATE@EXAMPLE.COM"),
        ("ada@XN--BCHER-KVA.example", "ada@xn--bcher-kva.example"),
        ("o'brien@example.com", "O'Brien@example.com"),
    ],
    ids=["identical", "mixed-case", "tags-and-case", "k-upper", "punycode-idn", "apostrophe"],
)
def test_ascii_addresses_differing_only_in_letter_case_are_the_same_mailbox(a: str, b: str) -> None:
    assert same_mailbox(a, b)
    assert mailbox_key(a) == mailbox_key(b)


def test_key_lowers_ascii_letters_and_changes_nothing_else() -> None:
    assert mailbox_key("Ada.Lovelace+Shop_1@Example.COM") == "ada.lovelace+shop_1@example.com"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ada@example.com", "ada@example.org"),
        ("ada@example.com", "ada.@example.com"),
        ("ada@example.com", "ada+x@example.com"),
        ("ada@example.com", "ada@example.com."),
    ],
    ids=["other-domain", "extra-dot", "tag", "trailing-root-dot"],
)
def test_different_ascii_addresses_are_different_mailboxes(a: str, b: str) -> None:
    assert not same_mailbox(a, b)


@pytest.mark.parametrize(
    ("look_alike", "ascii"),
    [
        (f"{KELVIN}ate@example.com", "kate@example.com"),
        (f"{KELVIN}ATE@EXAMPLE.COM", "KATE@example.com"),
        (f"jane@{KELVIN}ontoso.com", "jane@kontoso.com"),
        (f"ro{LONG_S}e@example.com", "rose@example.com"),
        (f"jane@example.{LONG_S}e", "jane@example.se"),
        ("\uff41\uff44\uff41@example.com", "ada@example.com"),  # fullwidth a, d, a
        ("ada@\uff45xample.com", "ada@example.com"),  # fullwidth e
        (f"{DOTLESS_I}van@example.com", "ivan@example.com"),
        (f"{DOTLESS_I}van@example.com", "IVAN@example.com"),
        (f"{DOTTED_CAPITAL_I}van@example.com", "ivan@example.com"),
        ("stra\u00dfe@example.com", "strasse@example.com"),  # ß
        ("STRA\u1e9eE@example.com", "STRASSE@example.com"),  # capital sharp s
        ("ada@\u0435xample.com", "ada@example.com"),  # Cyrillic small ie
        ("a\u200bda@example.com", "ada@example.com"),  # zero-width space
        ("ada@example\u3002com", "ada@example.com"),  # ideographic full stop
        ("ada\uff20example.com", "ada@example.com"),  # fullwidth commercial at
    ],
    ids=[
        "kelvin-sign-local",
        "kelvin-sign-upper",
        "kelvin-sign-domain",
        "long-s-local",
        "long-s-domain",
        "fullwidth-local",
        "fullwidth-domain",
        "dotless-i-lower",
        "dotless-i-upper",
        "turkish-dotted-capital-i",
        "sharp-s-vs-ss",
        "capital-sharp-s-vs-ss",
        "cyrillic-e",
        "zero-width-space",
        "ideographic-full-stop",
        "fullwidth-at",
    ],
)
def test_look_alike_of_an_ascii_address_is_never_the_same_mailbox(
    look_alike: str, ascii: str
) -> None:
    assert not same_mailbox(look_alike, ascii)
    assert not same_mailbox(ascii, look_alike)
    with pytest.raises(UnmatchableEmail) as refused:
        mailbox_key(look_alike)
    assert refused.value.code == "email_not_ascii"


def test_kelvin_sign_is_refused_although_nfc_turns_it_into_ascii() -> None:
    address = f"{KELVIN}ate@example.com"
    assert unicodedata.normalize("NFC", address) == "Kate@example.com"
    assert not same_mailbox(address, "kate@example.com")


def test_casefold_would_merge_the_look_alikes_this_rule_keeps_apart() -> None:
    # The comparison this rule replaces: it says "same" for another person's address.
    assert f"{KELVIN}ate@example.com".casefold() == "kate@example.com"
    assert f"ro{LONG_S}e@example.com".casefold() == "rose@example.com"
    assert "stra\u00dfe@example.com".casefold() == "strasse@example.com"


@pytest.mark.parametrize(
    "address",
    [
        "jos\u00e9@example.com",  # NFC: é as one code point
        "jose\u0301@example.com",  # NFD: e + combining acute accent
        "ada@b\u00fccher.example",  # IDN domain as a U-label
        "\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a",
    ],
    ids=["nfc-accent", "nfd-combining-accent", "idn-u-label", "cjk"],
)
def test_address_with_any_non_ascii_character_has_no_key(address: str) -> None:
    assert not same_mailbox(address, address)
    with pytest.raises(UnmatchableEmail) as refused:
        mailbox_key(address)
    assert refused.value.code == "email_not_ascii"


def test_nfc_and_nfd_spellings_of_the_same_address_are_not_matched() -> None:
    # Not even with each other: no non-ASCII address is linked by e-mail.
    assert not same_mailbox("jos\u00e9@example.com", "jose\u0301@example.com")


def test_idn_domain_as_u_label_does_not_match_its_punycode_form() -> None:
    assert not same_mailbox("ada@b\u00fccher.example", "ada@xn--bcher-kva.example")


@pytest.mark.parametrize(
    "address",
    [
        "",
        "ada",
        "@example.com",
        "ada@",
        "ada@example.com ",
        " ada@example.com",
        "ada @example.com",
        "ada@example.com\n",
        "ada\t@example.com",
        "ada@exa\x00mple.com",
        "ada@example.com\x7f",
    ],
    ids=[
        "empty",
        "no-at",
        "no-local-part",
        "no-domain",
        "trailing-space",
        "leading-space",
        "inner-space",
        "newline",
        "tab",
        "nul",
        "delete",
    ],
)
def test_malformed_ascii_address_has_no_key(address: str) -> None:
    with pytest.raises(UnmatchableEmail) as refused:
        mailbox_key(address)
    assert refused.value.code == "email_malformed"
    assert not same_mailbox(address, address)


def test_missing_address_is_never_the_same_mailbox() -> None:
    assert not same_mailbox(None, "ada@example.com")
    assert not same_mailbox("ada@example.com", None)
    assert not same_mailbox(None, None)
