"""SAML logins through pysaml2's own IdP, over HTTP, ending at the storefront JWT redirect."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.support.saml_idp import SandboxSamlIdp
from tests.support.saml_world import CONNECTION, SamlWorld, saml_world
from tests.support.servers import ServerThread
from tests.support.world import Dispatcher, Outcome, World


@pytest.fixture(params=["single_parse", pytest.param("pysaml2", marks=pytest.mark.pysaml2_reader)])
def saml(
    request: pytest.FixtureRequest, world: World, idp_server: tuple[ServerThread, Dispatcher]
) -> SamlWorld:
    # Every check must hold with either reader.
    return saml_world(world, idp_server, request.param)


def test_sp_initiated_login_lands_signed_in(saml: SamlWorld) -> None:
    outcome = saml.login(channel_id=1, redirect_to="/account.php")
    assert outcome.landed, outcome.final.text
    world = saml.world
    [customer] = world.customers.values()
    assert (customer["email"], customer["first_name"]) == ("ada@example.com", "Ada")
    [link] = world.links()
    assert link["subject"] == f"{saml.idp.entity_id}!ada-persistent-0001"
    assert world.events()[-1]["kind"] == "login" and world.events()[-1]["outcome"] == "success"


def test_returning_saml_login_uses_the_link(saml: SamlWorld) -> None:
    assert saml.login().landed
    assert saml.login().landed
    assert len(saml.world.customers) == 1 and saml.world.links()[0]["login_count"] == 2


def test_sp_metadata_describes_acs_and_formats(saml: SamlWorld) -> None:
    answer = httpx.get(saml.sp_entity_id)
    assert answer.headers["content-type"].startswith("application/samlmetadata+xml")
    assert f'entityID="{saml.sp_entity_id}"' in answer.text
    assert saml.acs_url in answer.text and "HTTP-POST" in answer.text
    assert "nameid-format:persistent" in answer.text


def test_metadata_from_a_url_is_used_and_refetched_when_the_idp_rolls_its_key(
    saml: SamlWorld, idp_server: tuple[ServerThread, Dispatcher]
) -> None:
    saml.world.put_saml_connection(
        CONNECTION, "", idp_metadata_xml=None, idp_metadata_url=saml.idp.entity_id
    )
    assert saml.login().landed
    # The IdP moves to a new key and publishes it; the adapter has the old metadata cached.
    rolled = SandboxSamlIdp(idp_server[0].url, key_name="rolled-over")
    rolled.trust_sp(httpx.get(saml.sp_entity_id).text)
    idp_server[1].target = rolled.app()
    saml.idp = rolled
    outcome = saml.login()
    assert outcome.landed, outcome.final.text
    assert len(saml.world.customers) == 1


def test_two_signing_certificates_in_the_metadata_are_both_trusted(
    saml: SamlWorld, idp_server: tuple[ServerThread, Dispatcher]
) -> None:
    from tests.support.certificates import idp_metadata

    next_key = SandboxSamlIdp(idp_server[0].url, key_name="next-key")
    both = idp_metadata(
        entity_id=saml.idp.entity_id,
        sso_url=f"{idp_server[0].url}/sso",
        certificates=(saml.idp.certificate_pem, next_key.certificate_pem),
    )
    saml.world.put_saml_connection(CONNECTION, both)
    assert saml.login().landed
    next_key.trust_sp(httpx.get(saml.sp_entity_id).text)
    idp_server[1].target = next_key.app()
    saml.idp = next_key
    assert saml.login().landed


def test_encrypted_assertion_is_decrypted_with_the_sp_key(saml: SamlWorld) -> None:
    browser = saml.world.browser()
    request_id, relay = saml.start(browser)
    xml = saml.idp.respond(
        request_id,
        saml.acs_url,
        saml.sp_entity_id,
        sign_response=True,
        sign_assertion=True,
        encrypt_assertion=True,
    )
    assert "EncryptedAssertion" in xml and "ada-persistent-0001" not in xml
    outcome = saml.post(browser, xml, relay)
    assert outcome.landed, outcome.final.text


def test_dry_run_test_login_reads_a_saml_subject_and_attributes(saml: SamlWorld) -> None:
    from tests.support.saml_idp import ENTRA_EMAIL

    answer = saml.world.admin().post(
        f"/stores/acme/connections/{CONNECTION}/test-login",
        json={"claims": {"name_id": "n-1", "attributes": {ENTRA_EMAIL: ["new@example.com"]}}},
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["subject"] == f"{saml.idp.entity_id}!n-1"
    assert result["action"] == "create_customer" and result["email"] == "new@example.com"
    transient = saml.world.admin().post(
        f"/stores/acme/connections/{CONNECTION}/test-login",
        json={
            "claims": {
                "name_id": "t",
                "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            }
        },
    )
    assert transient.json()["reason"] == "subject_missing"
    assert saml.world.customers == {} and saml.world.links() == []


def test_authn_request_is_signed_when_the_connection_asks(saml: SamlWorld) -> None:
    from urllib.parse import parse_qs, urlsplit

    saml.configure(sign_requests=True)
    start = saml.world.browser().get(f"{saml.world.url}/sso/acme/{CONNECTION}/login")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert query["Signature"][0] and query["RelayState"][0]
    # pysaml2's IdP checks the signature against our SP metadata, then answers as usual.
    assert saml.login().landed


def test_a_saml_login_the_previous_release_kept_in_flight_finishes_after_the_upgrade(
    saml: SamlWorld,
) -> None:
    # Both legs as the previous release stored them: the AuthnRequest sent, then the
    # identity parked between the ACS and the finish step.
    world = saml.world
    browser = world.browser()
    request_id, relay_state = saml.start(browser)

    def request_as_previously_stored(stored: dict[str, Any]) -> dict[str, Any]:
        assert stored == {"kind": "saml_request", "saml_request_id": request_id}
        return {"saml_request_id": request_id}

    world.rewrite_login_in_flight(request_as_previously_stored)
    xml = saml.idp.respond(request_id, saml.acs_url, saml.sp_entity_id)
    answer = browser.post(
        saml.acs_url,
        data={"SAMLResponse": base64.b64encode(xml.encode()).decode(), "RelayState": relay_state},
    )
    assert answer.status_code == 303

    def identity_as_previously_stored(stored: dict[str, Any]) -> dict[str, Any]:
        assert stored["kind"] == "saml_asserted"
        return {"identity": stored["identity"]}

    world.rewrite_login_in_flight(identity_as_previously_stored)
    outcome = Outcome(start=httpx.Response(302), callback=browser.get(answer.headers["location"]))
    assert world.follow_to_storefront(outcome, browser).landed
