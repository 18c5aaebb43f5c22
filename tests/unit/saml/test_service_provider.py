"""The service provider of one connection, driven directly with responses from pysaml2's IdP:
what it keeps in memory once a response has been read."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import pytest

from adapter.errors import NotVerified
from adapter.saml.service_provider import ServiceProvider, ServiceProviderSettings
from tests.support.certificates import self_signed
from tests.support.saml_idp import SandboxSamlIdp

SP = "https://adapter.example.test/sso/acme/entra/saml"


@pytest.fixture(params=["single_parse", pytest.param("pysaml2", marks=pytest.mark.pysaml2_reader)])
def pair(
    request: pytest.FixtureRequest, tmp_path
) -> Iterator[tuple[ServiceProvider, SandboxSamlIdp]]:  # type: ignore[no-untyped-def]
    idp = SandboxSamlIdp("https://idp.example.test")
    key, certificate = self_signed("sp.example.test")
    provider = ServiceProvider(
        ServiceProviderSettings(
            entity_id=f"{SP}/metadata",
            acs_url=f"{SP}/acs",
            idp_entity_id=idp.entity_id,
            idp_metadata_xml=idp.metadata(),
            private_key_pem=key,
            certificate_pem=certificate,
            sign_requests=False,
            allow_idp_initiated=True,
            allow_sha1=False,
            clock_skew_seconds=60,
            response_reader=request.param,
        ),
        str(tmp_path),
    )
    idp.trust_sp(provider.metadata())
    yield provider, idp
    provider.close()


def test_nothing_about_the_people_who_signed_in_stays_in_memory(pair) -> None:  # type: ignore[no-untyped-def]
    # pysaml2 files every response's subject and attributes in a cache of its own that nothing
    # ever empties: over a process's life, everyone who signed in, with their attributes.
    provider, idp = pair
    for number in range(5):
        request_id, _ = provider.authn_request(relay_state="r")
        xml = idp.respond(request_id, f"{SP}/acs", f"{SP}/metadata", name_id=f"person-{number}")
        verified = provider.verify(base64.b64encode(xml.encode()).decode(), request_id)
        assert verified.name_id == f"person-{number}"
    unsolicited = idp.respond(None, f"{SP}/acs", f"{SP}/metadata", name_id="person-idp")
    assert provider.verify(base64.b64encode(unsolicited.encode()).decode(), None).name_id
    population = provider._client.users
    assert population.subjects() == []
    assert not getattr(population.cache, "_db", None)


def test_a_refused_response_is_not_written_to_any_log(pair, capfd) -> None:  # type: ignore[no-untyped-def]
    # pysaml2 logs through the standard library, around the adapter's redaction; at error
    # level it wrote the whole response (subject, e-mail) to standard error when a signed
    # element failed the schema. A signed Subject with an Issuer inside is such an element.
    provider, idp = pair
    request_id, _ = provider.authn_request(relay_state="r")
    xml = idp.respond(
        request_id, f"{SP}/acs", f"{SP}/metadata", sign_response=True, sign_assertion=False
    )
    xml = idp.resign(xml.replace("<ns1:Subject>", "<ns1:Subject><ns1:Issuer>x</ns1:Issuer>"))
    reaching_root: list[str] = []
    listener = logging.Handler()
    listener.emit = lambda record: reaching_root.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger().addHandler(listener)
    try:
        with pytest.raises(NotVerified):
            provider.verify(base64.b64encode(xml.encode()).decode(), request_id)
    finally:
        logging.getLogger().removeHandler(listener)
    written = capfd.readouterr()
    for text in (written.out, written.err, *reaching_root):
        assert "ada@example.com" not in text and "ada-persistent-0001" not in text
