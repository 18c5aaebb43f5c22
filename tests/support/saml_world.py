"""A SAML connection of the test world, with pysaml2's IdP behind it, and a scripted browser
that walks SAML logins through the adapter."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.support.saml_idp import SandboxSamlIdp, form_fields, request_id_of
from tests.support.servers import ServerThread
from tests.support.world import Dispatcher, Outcome, World

CONNECTION = "entra"


class SamlWorld:
    def __init__(self, world: World, idp: SandboxSamlIdp):
        self.world, self.idp = world, idp
        base = f"{world.public_url}/sso/acme/{CONNECTION}/saml"
        self.acs_url, self.sp_entity_id = f"{base}/acs", f"{base}/metadata"

    def configure(self, **overrides: Any) -> None:
        self.world.put_saml_connection(CONNECTION, self.idp.metadata(), **overrides)
        metadata = httpx.get(self.sp_entity_id)
        assert metadata.status_code == 200, metadata.text
        self.idp.trust_sp(metadata.text)

    def start(self, browser: httpx.Client, **params: Any) -> tuple[str, str]:
        """Start a login; return (request id, RelayState) the IdP received."""
        start = browser.get(f"{self.world.url}/sso/acme/{CONNECTION}/login", params=params)
        assert start.status_code == 302, start.text
        at_idp = browser.get(start.headers["location"])
        fields = form_fields(at_idp.text)
        return request_id_of(start.headers["location"]), fields["RelayState"]

    def post(self, browser: httpx.Client, xml: str, relay_state: str) -> Outcome:
        answer = browser.post(
            self.acs_url,
            data={
                "SAMLResponse": base64.b64encode(xml.encode()).decode(),
                "RelayState": relay_state,
            },
        )
        outcome = Outcome(start=httpx.Response(302), callback=answer)
        if answer.status_code == 303:
            outcome.callback = browser.get(answer.headers["location"])
        return self.world.follow_to_storefront(outcome, browser)

    def login(self, browser: httpx.Client | None = None, **params: Any) -> Outcome:
        browser = browser or self.world.browser()
        start = browser.get(f"{self.world.url}/sso/acme/{CONNECTION}/login", params=params)
        if start.status_code != 302:
            return Outcome(start=start)
        fields = form_fields(browser.get(start.headers["location"]).text)
        answer = browser.post(self.acs_url, data=fields)
        outcome = Outcome(start=start, callback=answer)
        if answer.status_code == 303:
            outcome.callback = browser.get(answer.headers["location"])
        return self.world.follow_to_storefront(outcome, browser)


def saml_world(
    world: World, idp_server: tuple[ServerThread, Dispatcher], reader: str = "single_parse"
) -> SamlWorld:
    """A fresh IdP behind the shared server, and the `entra` SAML connection trusting it."""
    if reader != "single_parse":
        world.start_adapter(saml_response_reader=reader)
        world.put_connection()
    idp = SandboxSamlIdp(idp_server[0].url)
    idp_server[1].target = idp.app()
    setup = SamlWorld(world, idp)
    setup.configure()
    return setup
