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


def test_a_secret_is_found_by_the_path_the_table_names_it_with() -> None:
    from adapter.core.destinations import given
    from adapter.schemas import StoreBody

    body = StoreBody.model_validate(
        {
            "store_hash": "abc",
            "client_id": "c",
            "api_token": "t",
            "channels": [
                {"channel_id": 1, "kind": "hosted", "storefront_url": "https://a.example"},
                {
                    "channel_id": 7,
                    "kind": "headless",
                    "storefront_url": "https://b.example",
                    "delivery": "access_token",
                    "storefront_token": "s",
                    "return_url": "https://b.example/r",
                },
            ],
        }
    )
    assert given(body, "api_token") and not given(body, "client_secret")
    assert given(body, "channels[7].storefront_token")
    assert not given(body, "channels[1].storefront_token")
    assert not given(body, "channels[9].storefront_token")
    assert not given(body, "b2b.api_token")
