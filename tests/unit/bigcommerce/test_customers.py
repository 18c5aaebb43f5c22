"""The Customers v3 client against a scripted BigCommerce at the transport (httpx.MockTransport).

Retries are observed through an injected `sleep` that records its delays instead of waiting.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from adapter.bigcommerce.customers import CustomersApi, EmailInUse, NewCustomer
from adapter.bigcommerce.transport import BigCommerceTransport
from adapter.errors import UpstreamFailed
from tests.support.scripted_bigcommerce import FakeBigCommerce, RecordedSleep, rate_limited, status

API = "https://api.bigcommerce.test"
STORE_HASH = "abc123"
API_TOKEN = "bc-api-token-0123"
CUSTOMERS_URL = f"{API}/stores/{STORE_HASH}/v3/customers"


def customer(id_: int = 7, email: str = "jane.doe@example.com", **fields: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "email": email,
        "first_name": "Jane",
        "last_name": "Doe",
        "customer_group_id": 0,
        "channel_ids": [1],
        **fields,
    }


def ok(*customers: dict[str, Any], status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"data": list(customers), "meta": {}})


MakeApi = Callable[..., Awaitable[CustomersApi]]


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
async def make_api(sleep: RecordedSleep) -> AsyncIterator[MakeApi]:
    clients: list[httpx.AsyncClient] = []

    async def make(fake: FakeBigCommerce, *, max_wait: float = 5.0) -> CustomersApi:
        client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
        clients.append(client)
        transport = BigCommerceTransport(
            client, api_token=API_TOKEN, max_rate_limit_wait=max_wait, sleep=sleep
        )
        return CustomersApi(transport, api_base_url=API + "/", store_hash=STORE_HASH)

    yield make
    for client in clients:
        await client.aclose()


NEW = NewCustomer(
    email="jane.doe@example.com",
    first_name="Jane",
    last_name="Doe",
    channel_id=2,
    customer_group_id=5,
)


# --- retries (the policy is the transport's: tests/unit/bigcommerce/test_transport.py) ---


async def test_rate_limited_read_waits_for_the_reset_time_then_succeeds(
    make_api: MakeApi, sleep: RecordedSleep
) -> None:
    fake = FakeBigCommerce(rate_limited(1500), rate_limited(250), ok(customer()))
    found = await (await make_api(fake)).find_by_email("jane.doe@example.com")
    assert [c.id for c in found] == [7]
    assert sleep.delays == [1.5, 0.25]
    assert len(fake.requests) == 3


async def test_read_failing_with_5xx_every_time_gives_up(
    make_api: MakeApi, sleep: RecordedSleep
) -> None:
    fake = FakeBigCommerce(status(500))
    with pytest.raises(UpstreamFailed) as failed:
        await (await make_api(fake)).get(7)
    assert failed.value.code == "bigcommerce_error"
    assert sleep.delays == [0.2, 0.5, 1.0]
    assert len(fake.requests) == 4


async def test_create_failing_with_5xx_is_not_retried(
    make_api: MakeApi, sleep: RecordedSleep
) -> None:
    # The customer may have been created: retrying could create a second one.
    fake = FakeBigCommerce(status(500), ok(customer(), status=200))
    with pytest.raises(UpstreamFailed) as failed:
        await (await make_api(fake)).create(NEW)
    assert failed.value.code == "bigcommerce_error"
    assert fake.methods == ["POST"]
    assert sleep.delays == []


async def test_rate_limited_create_is_retried(make_api: MakeApi, sleep: RecordedSleep) -> None:
    # A 429 means the write did not happen, so sending it again is safe.
    fake = FakeBigCommerce(rate_limited(400), ok(customer(id_=9), status=200))
    created = await (await make_api(fake)).create(NEW)
    assert created.id == 9
    assert fake.methods == ["POST", "POST"]
    assert sleep.delays == [0.4]


async def test_create_timing_out_becomes_upstream_failed_without_retry(
    make_api: MakeApi, sleep: RecordedSleep
) -> None:
    fake = FakeBigCommerce(httpx.ReadTimeout("slow"), ok(customer()))
    with pytest.raises(UpstreamFailed) as failed:
        await (await make_api(fake)).create(NEW)
    assert failed.value.code == "bigcommerce_unavailable"
    assert fake.methods == ["POST"]
    assert sleep.delays == []


@pytest.mark.parametrize("code", [401, 403])
async def test_refused_credentials_are_reported_as_an_auth_failure(
    make_api: MakeApi, code: int
) -> None:
    with pytest.raises(UpstreamFailed) as failed:
        await (await make_api(FakeBigCommerce(status(code)))).get(7)
    assert failed.value.code == "bigcommerce_auth"


# --- create ----------------------------------------------------------------------------------


async def test_create_sends_channel_group_password_and_token(make_api: MakeApi) -> None:
    fake = FakeBigCommerce(ok(customer(id_=9, channel_ids=[2]), status=200))
    created = await (await make_api(fake)).create(NEW)
    assert created.id == 9
    assert created.channel_ids == (2,)

    (request,) = fake.requests
    assert request.method == "POST"
    assert str(request.url) == CUSTOMERS_URL
    assert request.headers["X-Auth-Token"] == API_TOKEN
    assert request.headers["Content-Type"] == "application/json"
    (body,) = json.loads(request.content)
    assert body["email"] == "jane.doe@example.com"
    assert (body["first_name"], body["last_name"]) == ("Jane", "Doe")
    assert body["origin_channel_id"] == 2
    assert body["channel_ids"] == [2]
    assert body["customer_group_id"] == 5
    password = body["authentication"]["new_password"]
    assert body["authentication"]["force_password_reset"] is False
    assert len(password) >= 32
    assert any(c.isalpha() for c in password)
    assert any(c.isdigit() for c in password)


async def test_create_without_group_leaves_the_group_to_bigcommerce(make_api: MakeApi) -> None:
    fake = FakeBigCommerce(ok(customer(), status=200))
    await (await make_api(fake)).create(
        NewCustomer(email="a@example.com", first_name="A", last_name="-", channel_id=1)
    )
    (body,) = json.loads(fake.requests[0].content)
    assert "customer_group_id" not in body


async def test_each_created_customer_gets_a_different_password(make_api: MakeApi) -> None:
    fake = FakeBigCommerce(ok(customer(), status=200))
    api = await make_api(fake)
    await api.create(NEW)
    await api.create(NEW)
    passwords = {json.loads(r.content)[0]["authentication"]["new_password"] for r in fake.requests}
    assert len(passwords) == 2


async def test_create_refused_because_the_email_exists_raises_email_in_use(
    make_api: MakeApi,
) -> None:
    fake = FakeBigCommerce(status(422), ok(customer(id_=3, email="Jane.Doe@example.com")))
    with pytest.raises(EmailInUse) as in_use:
        await (await make_api(fake)).create(NEW)
    assert in_use.value.customer.id == 3
    assert fake.methods == ["POST", "GET"]


async def test_create_refused_for_another_reason_raises_upstream_failed(
    make_api: MakeApi,
) -> None:
    fake = FakeBigCommerce(status(422), ok())
    with pytest.raises(UpstreamFailed) as failed:
        await (await make_api(fake)).create(NEW)
    assert failed.value.code == "bigcommerce_error"
    assert fake.methods == ["POST", "GET"]


async def test_create_answer_without_a_customer_raises_upstream_failed(make_api: MakeApi) -> None:
    with pytest.raises(UpstreamFailed):
        await (await make_api(FakeBigCommerce(ok(status=200)))).create(NEW)


# --- reads -----------------------------------------------------------------------------------


async def test_find_by_email_matches_case_insensitively(make_api: MakeApi) -> None:
    fake = FakeBigCommerce(
        ok(
            customer(id_=1, email="jane.doe@example.com"),
            customer(id_=2, email="JANE.DOE@EXAMPLE.COM"),
            customer(id_=3, email="john@example.com"),
        )
    )
    found = await (await make_api(fake)).find_by_email("Jane.Doe@Example.com")
    assert [c.id for c in found] == [1, 2]
    params = fake.requests[0].url.params
    assert set(params["email:in"].split(",")) == {"Jane.Doe@Example.com", "jane.doe@example.com"}
    assert fake.requests[0].headers["X-Auth-Token"] == API_TOKEN


async def test_find_by_email_leaves_out_look_alikes_that_bigcommerce_returns(
    make_api: MakeApi,
) -> None:
    fake = FakeBigCommerce(
        ok(
            customer(id_=1, email="kate@example.com"),
            customer(id_=2, email="\u212aate@example.com"),  # Kelvin sign
            customer(id_=3, email="\uff4bate@example.com"),  # fullwidth k
        )
    )
    found = await (await make_api(fake)).find_by_email("Kate@example.com")
    assert [c.id for c in found] == [1]


@pytest.mark.parametrize(
    "email",
    ["\u212aate@example.com", "ro\u017fe@example.com", "jos\u00e9@example.com"],
    ids=["kelvin-sign", "long-s", "accent"],
)
async def test_find_by_email_of_a_non_ascii_address_finds_nobody_without_asking(
    make_api: MakeApi, email: str
) -> None:
    fake = FakeBigCommerce(ok(customer(id_=1, email="kate@example.com")))
    assert await (await make_api(fake)).find_by_email(email) == []
    assert fake.methods == []


async def test_find_by_email_with_an_unexpected_body_raises_upstream_failed(
    make_api: MakeApi,
) -> None:
    fake = FakeBigCommerce(httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(UpstreamFailed):
        await (await make_api(fake)).find_by_email("jane.doe@example.com")


async def test_get_of_an_unknown_customer_gives_none(make_api: MakeApi) -> None:
    fake = FakeBigCommerce(ok())
    assert await (await make_api(fake)).get(404) is None
    assert fake.requests[0].url.params["id:in"] == "404"


# --- channel settings --------------------------------------------------------------------------


async def test_channel_refusing_global_logins_is_reported(make_api: MakeApi) -> None:
    fake = FakeBigCommerce(httpx.Response(200, json={"data": {"allow_global_logins": False}}))
    assert await (await make_api(fake)).channel_allows_global_logins(2) is False
    assert str(fake.requests[0].url) == f"{CUSTOMERS_URL}/settings/channels/2"


@pytest.mark.parametrize(
    "body",
    [b'{"data": {"allow_global_logins": true}}', b'{"data": null}', b"[]", b"not json"],
    ids=["allowed", "no-data", "not-an-object", "not-json"],
)
async def test_channel_settings_that_do_not_refuse_global_logins_allow_them(
    make_api: MakeApi, body: bytes
) -> None:
    fake = FakeBigCommerce(httpx.Response(200, content=body))
    assert await (await make_api(fake)).channel_allows_global_logins(2) is True
