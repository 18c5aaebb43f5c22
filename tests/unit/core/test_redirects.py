"""`redirect_to` ends up in a BigCommerce login JWT and then in a browser redirect, so every
spelling a browser (or a second decoding pass) could read as another origin must be refused."""

from __future__ import annotations

import pytest

from adapter.core.redirects import (
    DEFAULT_REDIRECT,
    MAX_LENGTH,
    InvalidRedirect,
    validate_redirect_to,
)


@pytest.mark.parametrize("missing", [None, ""], ids=["none", "empty"])
def test_missing_redirect_falls_back_to_the_account_page(missing: str | None) -> None:
    assert validate_redirect_to(missing) == DEFAULT_REDIRECT == "/account.php"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/account.php",
        "/cart.php?action=add&product_id=12",
        "/search.php?search_query=red%20shoes",
        "/search.php?q=100%25",
        "/shop/caf%C3%A9/?sort=price#reviews",
        "/checkout?next=%2Fcart.php",
        "/blog/2024/a-post/",
    ],
    ids=[
        "root",
        "account",
        "query",
        "encoded-space-in-query",
        "encoded-percent",
        "utf8-path-and-fragment",
        "encoded-relative-path-in-query",
        "nested-path",
    ],
)
def test_relative_path_is_returned_unchanged(path: str) -> None:
    assert validate_redirect_to(path) == path


def test_path_of_exactly_the_maximum_length_is_accepted() -> None:
    path = "/" + "a" * (MAX_LENGTH - 1)
    assert validate_redirect_to(path) == path


@pytest.mark.parametrize(
    "value",
    [
        "https://evil.example",
        "https://evil.example/account.php",
        "HTTP://evil.example",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example",
        "//evil.example/account.php",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/account.php\\..\\",
        "/\tevil.example",
        "/\t/evil.example",
        "/\r\nSet-Cookie:x",
        "/\nevil",
        "/\x00",
        "/\x7f",
        "/\x1b[31m",
        "/%09/evil.example",
        "/%0d%0aSet-Cookie:x",
        "/%0A/evil.example",
        "/%00",
        "/%7F",
        "/%2F%2Fevil.example",
        "/%2f%2fevil.example",
        "%2F%2Fevil.example",
        "/%252F%252Fevil.example",
        "/%25252F%25252Fevil.example",
        "/%2525252F%2525252Fevil.example",
        "/%5Cevil.example",
        "/%5cevil.example",
        "/%255Cevil.example",
        "/%ff",
        "/%C0%AF",
        "/" + "a" * MAX_LENGTH,
        "/account.php evil",
        " /account.php",
        "/account.php\u00a0",
        "/\u3000evil",
        "account.php",
        "evil.example/account.php",
        "./account.php",
        "?next=/",
        "/\u2028evil.example",
        "/\u2029evil.example",
        "/%E2%80%A8evil.example",
        "/\u200bevil.example",
        "/%E2%80%8Bevil.example",
        "/\u202eevil",
    ],
    ids=[
        "absolute-https",
        "absolute-https-with-path",
        "absolute-uppercase-scheme",
        "javascript-scheme",
        "javascript-mixed-case",
        "data-scheme",
        "protocol-relative",
        "protocol-relative-with-path",
        "triple-slash",
        "slash-backslash",
        "double-backslash",
        "backslash-later-in-path",
        "raw-tab",
        "raw-tab-then-slash",
        "raw-crlf-header-injection",
        "raw-lf",
        "raw-nul",
        "raw-del",
        "raw-escape",
        "encoded-tab",
        "encoded-crlf-header-injection",
        "encoded-lf",
        "encoded-nul",
        "encoded-del",
        "encoded-slashes",
        "encoded-slashes-lowercase",
        "encoded-slashes-without-leading-slash",
        "double-encoded-slashes",
        "triple-encoded-slashes",
        "encoded-beyond-decode-rounds",
        "encoded-backslash",
        "encoded-backslash-lowercase",
        "double-encoded-backslash",
        "invalid-utf8",
        "overlong-utf8-slash",
        "too-long",
        "inner-space",
        "leading-space",
        "no-break-space",
        "ideographic-space",
        "relative-without-slash",
        "bare-host",
        "dot-relative",
        "query-only",
        "line-separator",
        "paragraph-separator",
        "encoded-line-separator",
        "zero-width-space",
        "encoded-zero-width-space",
        "right-to-left-override",
    ],
)
def test_open_redirect_spelling_is_refused(value: str) -> None:
    with pytest.raises(InvalidRedirect):
        validate_redirect_to(value)


def test_refusal_names_the_reason_for_the_log() -> None:
    with pytest.raises(InvalidRedirect, match="protocol-relative"):
        validate_redirect_to("/%2F%2Fevil.example")
    with pytest.raises(InvalidRedirect, match="UTF-8"):
        validate_redirect_to("/%ff")
    with pytest.raises(InvalidRedirect, match="too long"):
        validate_redirect_to("/" + "a" * MAX_LENGTH)
    with pytest.raises(InvalidRedirect, match="must start with /"):
        validate_redirect_to("account.php")
