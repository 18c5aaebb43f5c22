"""Which URLs count as the same destination for a stored secret."""

from __future__ import annotations

import pytest

from adapter.core.destinations import Destination, destination_key, new_destinations


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://api.bigcommerce.com", "https://API.BigCommerce.com/"),
        ("https://api.bigcommerce.com", "HTTPS://api.bigcommerce.com:443"),
        ("https://idp.example.com/tenant/", "https://idp.example.com/tenant"),
        ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x/"),
    ],
)
def test_urls_that_reach_the_same_server_with_the_same_request_are_one_destination(
    a: str, b: str
) -> None:
    assert destination_key(a) == destination_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://api.bigcommerce.com", "https://api.bigcommerce.com.evil.example"),
        ("https://api.bigcommerce.com", "https://api.bigcommerce.com:8443"),
        ("https://api.bigcommerce.com", "http://api.bigcommerce.com"),
        ("https://idp.example.com/Tenant", "https://idp.example.com/tenant"),
        ("https://idp.example.com/a", "https://idp.example.com/a?x=1"),
        ("https://user@idp.example.com", "https://idp.example.com.evil"),
    ],
)
def test_another_host_port_scheme_path_or_query_is_a_new_destination(a: str, b: str) -> None:
    assert destination_key(a) != destination_key(b)


def test_a_url_already_used_for_the_same_secret_is_not_new_but_one_of_another_secret_is() -> None:
    before = [Destination("client_secret", "channels[1].storefront_url", "https://shop.example")]
    after = [
        Destination("client_secret", "channels[2].storefront_url", "https://shop.example/"),
        Destination("api_token", "api_base_url", "https://shop.example"),
    ]
    assert new_destinations(before, after) == [after[1]]
