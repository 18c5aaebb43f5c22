"""Every forged or unacceptable SAML response, built by tampering a valid signed one from
pysaml2's IdP: each is refused (400 or 401), audited, and leaves no customer and no link."""

from __future__ import annotations

import re

import httpx
import pytest
from saml2.saml import NAMEID_FORMAT_TRANSIENT
from saml2.xmldsig import DIGEST_SHA1, SIG_RSA_SHA1

from tests.support.assertions import assert_refused_cleanly, reference_of
from tests.support.saml_idp import SandboxSamlIdp
from tests.support.saml_world import SamlWorld, saml_world
from tests.support.servers import ServerThread
from tests.support.world import Dispatcher, World


@pytest.fixture(params=["single_parse", pytest.param("pysaml2", marks=pytest.mark.pysaml2_reader)])
def saml(
    request: pytest.FixtureRequest, world: World, idp_server: tuple[ServerThread, Dispatcher]
) -> SamlWorld:
    return saml_world(world, idp_server, request.param)


@pytest.fixture
def browser(world: World) -> httpx.Client:
    return world.browser()


def answer(saml: SamlWorld, browser: httpx.Client, edit=None, **respond):  # type: ignore[no-untyped-def]
    request_id, relay = saml.start(browser)
    xml = saml.idp.respond(request_id, saml.acs_url, saml.sp_entity_id, **respond)
    if edit is not None:
        xml = edit(xml)
    return saml.post(browser, xml, relay)


def test_a_valid_response_built_the_same_way_is_accepted(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    assert answer(saml, browser).landed


def test_unsigned_response_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    outcome = answer(saml, browser, sign_response=False, sign_assertion=False)
    assert_refused_cleanly(saml.world, outcome, 401, reason="saml_response_invalid")


def test_response_signed_by_a_key_not_in_the_metadata_is_refused(
    saml: SamlWorld,
    browser,
    idp_server,  # type: ignore[no-untyped-def]
) -> None:
    stranger = SandboxSamlIdp(idp_server[0].url, key_name="stranger")
    stranger.trust_sp(httpx.get(saml.sp_entity_id).text)
    request_id, relay = saml.start(browser)
    xml = stranger.respond(request_id, saml.acs_url, saml.sp_entity_id)
    outcome = saml.post(browser, xml, relay)
    assert_refused_cleanly(saml.world, outcome, 401, reason="saml_response_invalid")


def test_response_edited_after_signing_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    outcome = answer(saml, browser, edit=lambda x: x.replace("ada-persistent-0001", "admin-0001"))
    assert_refused_cleanly(saml.world, outcome, 401, reason="saml_response_invalid")


def test_signature_wrapping_with_a_second_assertion_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    def wrap(xml: str) -> str:
        # Copy the signed assertion, change the copy's subject and ID, and slip it in.
        assertion = re.search(r"<(\w+):Assertion .*?</\1:Assertion>", xml, re.S).group(0)
        evil = assertion.replace("ada-persistent-0001", "admin-0001").replace('ID="', 'ID="evil')
        evil = re.sub(r"<(\w+):Signature .*?</\1:Signature>", "", evil, flags=re.S)
        return xml.replace(assertion, evil + assertion)

    outcome = answer(saml, browser, edit=wrap, sign_response=False, sign_assertion=True)
    assert_refused_cleanly(saml.world, outcome, 401, reason="saml_response_invalid")


def test_signature_wrapping_moving_the_signed_assertion_into_extensions_is_refused(
    saml: SamlWorld,
    browser,  # type: ignore[no-untyped-def]
) -> None:
    def wrap(xml: str) -> str:
        assertion = re.search(r"<(\w+):Assertion .*?</\1:Assertion>", xml, re.S).group(0)
        evil = assertion.replace("ada-persistent-0001", "admin-0001").replace('ID="', 'ID="evil')
        evil = re.sub(r"<(\w+):Signature .*?</\1:Signature>", "", evil, flags=re.S)
        protocol = "urn:oasis:names:tc:SAML:2.0:protocol"
        hidden = f'<ns0:Extensions xmlns:ns0="{protocol}">{assertion}</ns0:Extensions>'
        return xml.replace(assertion, evil).replace("<ns0:Status>", hidden + "<ns0:Status>", 1)

    outcome = answer(saml, browser, edit=wrap, sign_response=False, sign_assertion=True)
    assert outcome.refusal.status_code in (400, 401)
    assert saml.world.customers == {} and saml.world.links() == []


def test_a_resigned_response_without_edits_is_accepted(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    # The control for every "edit, then re-sign" forgery below: re-signing alone is fine.
    outcome = answer(saml, browser, edit=saml.idp.resign, sign_response=True, sign_assertion=False)
    assert outcome.landed


def test_response_for_another_audience_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    def audience(xml: str) -> str:
        xml = xml.replace(f">{saml.sp_entity_id}<", ">https://other-sp.example/metadata<")
        return saml.idp.resign(xml)

    outcome = answer(saml, browser, edit=audience, sign_response=True, sign_assertion=False)
    assert_refused_cleanly(saml.world, outcome, 401, reason="saml_response_invalid")


def test_response_for_another_destination_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    request_id, relay = saml.start(browser)
    xml = saml.idp.respond(request_id, "https://other-sp.example/acs", saml.sp_entity_id)
    assert_refused_cleanly(
        saml.world, saml.post(browser, xml, relay), 401, reason="saml_response_invalid"
    )


def test_response_to_another_request_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    _, relay = saml.start(browser)
    xml = saml.idp.respond("id-of-another-request", saml.acs_url, saml.sp_entity_id)
    assert_refused_cleanly(
        saml.world, saml.post(browser, xml, relay), 401, reason="saml_response_invalid"
    )


def test_unsolicited_response_is_refused_unless_idp_initiated_login_is_on(
    saml: SamlWorld, browser
) -> None:  # type: ignore[no-untyped-def]
    xml = saml.idp.respond(None, saml.acs_url, saml.sp_entity_id)
    assert_refused_cleanly(
        saml.world, saml.post(browser, xml, ""), 400, reason="login_state_invalid"
    )


def test_idp_initiated_login_lands_when_allowed(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    saml.configure(allow_idp_initiated=True)
    xml = saml.idp.respond(None, saml.acs_url, saml.sp_entity_id)
    outcome = saml.post(browser, xml, "")
    assert outcome.landed, outcome.final.text
    assert saml.world.shop.acceptances[-1].redirect_to == "/account.php"


def test_idp_initiated_response_claiming_a_request_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    saml.configure(allow_idp_initiated=True)
    xml = saml.idp.respond("id-forged-request", saml.acs_url, saml.sp_entity_id)
    assert_refused_cleanly(
        saml.world, saml.post(browser, xml, ""), 401, reason="saml_response_invalid"
    )


def test_expired_assertion_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    def expire(xml: str) -> str:
        xml = re.sub(r'NotOnOrAfter="[^"]+"', 'NotOnOrAfter="2020-01-01T00:00:00Z"', xml)
        return saml.idp.resign(xml)

    outcome = answer(saml, browser, edit=expire, sign_response=True, sign_assertion=False)
    assert_refused_cleanly(saml.world, outcome, 401, reason="saml_response_invalid")


def test_assertion_not_yet_valid_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    def future(xml: str) -> str:
        xml = re.sub(r'NotBefore="[^"]+"', 'NotBefore="2099-01-01T00:00:00Z"', xml)
        return saml.idp.resign(xml)

    outcome = answer(saml, browser, edit=future, sign_response=True, sign_assertion=False)
    assert_refused_cleanly(saml.world, outcome, 401, reason="saml_response_invalid")


def test_failed_status_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    def fail(xml: str) -> str:
        xml = xml.replace(
            "urn:oasis:names:tc:SAML:2.0:status:Success",
            "urn:oasis:names:tc:SAML:2.0:status:Responder",
        )
        return saml.idp.resign(xml)

    outcome = answer(saml, browser, edit=fail, sign_response=True, sign_assertion=False)
    assert outcome.refusal.status_code == 401
    assert saml.world.customers == {} and saml.world.links() == []


def test_replayed_assertion_is_refused(saml: SamlWorld) -> None:
    first, second = saml.world.browser(), saml.world.browser()
    request_id, relay = saml.start(first)
    xml = saml.idp.respond(request_id, saml.acs_url, saml.sp_entity_id)
    assert saml.post(first, xml, relay).landed
    _, relay_again = saml.start(second)
    replay = saml.post(second, xml, relay_again)
    assert replay.refusal.status_code == 401
    assert len(saml.world.links()) == 1
    assert (
        saml.world.events(kind="login", outcome="failure")[-1]["reason"] == "saml_response_invalid"
    )


def test_replay_of_an_idp_initiated_assertion_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    saml.configure(allow_idp_initiated=True)
    xml = saml.idp.respond(None, saml.acs_url, saml.sp_entity_id)
    assert saml.post(browser, xml, "").landed
    again = saml.post(saml.world.browser(), xml, "")
    assert again.refusal.status_code == 401
    assert saml.world.events(kind="login", outcome="failure")[-1]["reason"] == "saml_replay"


def test_document_type_declaration_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    def doctype(xml: str) -> str:
        body = xml.split("?>", 1)[1] if xml.startswith("<?xml") else xml
        return '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "ada">]>' + body

    assert_refused_cleanly(
        saml.world, answer(saml, browser, edit=doctype), 400, reason="saml_malformed"
    )


def test_sha1_signature_is_refused_unless_the_connection_allows_it(
    saml: SamlWorld, browser
) -> None:  # type: ignore[no-untyped-def]
    outcome = answer(saml, browser, sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1)
    assert_refused_cleanly(saml.world, outcome, 401, reason="saml_response_invalid")
    saml.configure(allow_sha1=True)
    assert answer(saml, saml.world.browser(), sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1).landed


def test_comment_inside_the_nameid_cannot_shorten_what_we_read(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    # The classic truncation trick: "admin<!---->.evil" must not read as "admin".
    saml.idp.name_id = "admin.evil"

    def comment(xml: str) -> str:
        return saml.idp.resign(xml.replace(">admin.evil<", ">admin<!---->.evil<"))

    outcome = answer(saml, browser, edit=comment, sign_response=True, sign_assertion=False)
    assert outcome.landed
    assert saml.world.links()[0]["subject"].endswith("!admin.evil")


def test_transient_nameid_is_never_a_subject(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    saml.idp.name_id_format = NAMEID_FORMAT_TRANSIENT
    assert_refused_cleanly(saml.world, answer(saml, browser), 401, reason="subject_missing")


def test_subject_attribute_replaces_the_nameid(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    oid = "http://schemas.microsoft.com/identity/claims/objectidentifier"
    saml.idp.attributes[oid] = ["0000-aaaa-object-id"]
    saml.idp.name_id_format = NAMEID_FORMAT_TRANSIENT
    saml.configure(subject_attribute=oid)
    assert answer(saml, browser).landed
    assert saml.world.links()[0]["subject"] == "0000-aaaa-object-id"


def test_finish_in_another_browser_is_refused(saml: SamlWorld) -> None:
    started, other = saml.world.browser(), saml.world.browser()
    request_id, relay = saml.start(started)
    xml = saml.idp.respond(request_id, saml.acs_url, saml.sp_entity_id)
    outcome = saml.post(other, xml, relay)
    assert_refused_cleanly(saml.world, outcome, 400, reason="login_state_invalid")


def test_malformed_posts_are_refused_with_400(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    for data in ({}, {"SAMLResponse": "%%%not base64"}, {"SAMLResponse": "bm90IHhtbA=="}):
        assert browser.post(saml.acs_url, data={**data, "RelayState": ""}).status_code == 400
    assert saml.world.customers == {} and saml.world.links() == []


def _encrypted(saml: SamlWorld, browser, extra_unsigned: bool, answering=None, **respond):  # type: ignore[no-untyped-def]
    """The IdP's signed assertion, encrypted to the SP; optionally followed by a second,
    unsigned assertion for someone else, encrypted the same way (anyone can: the SP's
    certificate is public). `answering` makes the assertion answer another request than the
    one this browser started (the unsigned Response still names this browser's)."""
    from lxml import etree

    from tests.support.saml_idp import encrypt_for

    saml_ns = "urn:oasis:names:tc:SAML:2.0:assertion"
    request_id, relay = saml.start(browser)
    xml = saml.idp.respond(
        answering or request_id,
        saml.acs_url,
        saml.sp_entity_id,
        sign_response=False,
        sign_assertion=True,
        **respond,
    )
    root = etree.fromstring(xml.encode())
    root.set("InResponseTo", request_id)
    legit = root.find(f"{{{saml_ns}}}Assertion")
    position = list(root).index(legit)
    root.remove(legit)
    with saml.world.engine.connect() as conn:
        sp_certificate = conn.exec_driver_sql(
            "SELECT sp_certificate FROM connections WHERE slug = 'entra'"
        ).scalar_one()
    wrapper = etree.Element(f"{{{saml_ns}}}EncryptedAssertion", nsmap={"saml": saml_ns})
    wrapper.append(encrypt_for(sp_certificate, legit))
    root.insert(position, wrapper)
    if extra_unsigned:
        evil = etree.fromstring(
            f'<saml:Assertion xmlns:saml="{saml_ns}" ID="evil1" Version="2.0" '
            f'IssueInstant="2020-01-01T00:00:00Z"><saml:Issuer>{saml.idp.entity_id}</saml:Issuer>'
            '<saml:AttributeStatement><saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/'
            'identity/claims/emailaddress"><saml:AttributeValue>victim@example.com'
            "</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>"
        )
        root.append(encrypt_for(sp_certificate, evil))
    return saml.post(browser, etree.tostring(root).decode(), relay)


def test_an_unsigned_encrypted_assertion_next_to_a_signed_one_is_refused(
    saml: SamlWorld, browser
) -> None:  # type: ignore[no-untyped-def]
    assert _encrypted(saml, saml.world.browser(), extra_unsigned=False).landed  # the control
    outcome = _encrypted(saml, browser, extra_unsigned=True)
    assert outcome.refusal.status_code == 401
    assert [c["email"] for c in saml.world.customers.values()] == ["ada@example.com"]


def test_sha1_inside_an_encrypted_assertion_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    outcome = _encrypted(
        saml, browser, extra_unsigned=False, sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1
    )
    assert_refused_cleanly(saml.world, outcome, 401, reason="saml_response_invalid")


# -- what the profile demands and pysaml2 checks only when present, or loosely ---------------

PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


def resigned(saml: SamlWorld, *edits):  # type: ignore[no-untyped-def]
    """An edit of the signed Response (its assertion unsigned), signed again by the IdP: the
    IdP itself sent it, so only the edit can be the reason for a refusal."""

    def edit(xml: str) -> str:
        for pattern, replacement in edits:
            xml, count = re.subn(pattern, replacement, xml, flags=re.S)
            assert count, f"nothing matched {pattern!r}"
        return saml.idp.resign(xml)

    return {"edit": edit, "sign_response": True, "sign_assertion": False}


def assert_refused_by_rule(world: World, outcome, rule: str) -> None:  # type: ignore[no-untyped-def]
    """Refused cleanly with 401, and the audit event names the rule that refused it (so the
    edit, not some side effect of it, is what was caught)."""
    assert_refused_cleanly(world, outcome, 401, reason="saml_response_invalid")
    [event] = [
        e
        for e in world.events(kind="login", outcome="failure")
        if e["reference"] == reference_of(outcome)
    ]
    assert rule in event["details"]["detail"], event["details"]["detail"]


def test_every_audience_restriction_must_name_us(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    # Core 2.5.1.4: several restrictions must all hold; pysaml2 accepts any one of them.
    other = "<ns1:AudienceRestriction><ns1:Audience>https://other-sp.example/metadata</ns1:Audience></ns1:AudienceRestriction>"
    outcome = answer(
        saml, browser, **resigned(saml, (r"</ns1:Conditions>", other + "</ns1:Conditions>"))
    )
    assert_refused_by_rule(saml.world, outcome, "an AudienceRestriction does not name this SP")


def test_assertion_without_audience_restriction_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    edit = (r"<ns1:AudienceRestriction>.*?</ns1:AudienceRestriction>", "")
    outcome = answer(saml, browser, **resigned(saml, edit))
    assert_refused_by_rule(saml.world, outcome, "no AudienceRestriction")


def test_assertion_without_conditions_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    outcome = answer(saml, browser, **resigned(saml, (r"<ns1:Conditions .*?</ns1:Conditions>", "")))
    assert_refused_by_rule(saml.world, outcome, "no AudienceRestriction")


def test_bearer_confirmation_for_another_recipient_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    # pysaml2 takes any non-empty Recipient; our own entity id is not our ACS either.
    edit = (r'Recipient="[^"]+"', f'Recipient="{saml.sp_entity_id}"')
    outcome = answer(saml, browser, **resigned(saml, edit))
    assert_refused_by_rule(saml.world, outcome, "confirmation Recipient is not this ACS")


def test_bearer_confirmation_without_not_on_or_after_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    edit = (r'(<ns1:SubjectConfirmationData )NotOnOrAfter="[^"]+" ', r"\1")
    outcome = answer(saml, browser, **resigned(saml, edit))
    assert_refused_by_rule(saml.world, outcome, "without NotOnOrAfter")


def test_assertion_that_never_expires_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    # Without any NotOnOrAfter, the replay ledger could only guess how long to remember it.
    outcome = answer(saml, browser, **resigned(saml, (r' NotOnOrAfter="[^"]+"', "")))
    assert_refused_by_rule(saml.world, outcome, "without NotOnOrAfter")


CM = "urn:oasis:names:tc:SAML:2.0:cm:"
BEARER = rf'(<ns1:SubjectConfirmation Method="{CM}bearer">.*?</ns1:SubjectConfirmation>)'


def test_sender_vouches_confirmation_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    # pysaml2 runs no time check on a sender-vouches confirmation: the bearer's data, under
    # another method, would pass without its NotOnOrAfter being looked at.
    vouches = (f'Method="{CM}bearer"', f'Method="{CM}sender-vouches"')
    outcome = answer(saml, browser, **resigned(saml, vouches))
    assert_refused_by_rule(saml.world, outcome, "sender-vouches is not bearer")


def test_holder_of_key_confirmation_beside_the_bearer_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    # pysaml2 silently drops a holder-of-key confirmation that carries no key.
    holder = rf'\1<ns1:SubjectConfirmation Method="{CM}holder-of-key"/>'
    outcome = answer(saml, browser, **resigned(saml, (BEARER, holder)))
    assert_refused_by_rule(saml.world, outcome, "holder-of-key is not bearer")


def test_signed_response_without_destination_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    # Bindings 3.5.5.2: a signed message must say where it is going.
    outcome = answer(saml, browser, **resigned(saml, (r' Destination="[^"]+"', "")))
    assert_refused_by_rule(saml.world, outcome, "signed Response without Destination")


def test_unsigned_response_around_a_signed_assertion_may_omit_its_destination(
    saml: SamlWorld, browser
) -> None:  # type: ignore[no-untyped-def]
    # Nothing protects an unsigned Destination: requiring it would stop no one. The signed
    # Recipient, which must be our ACS, is what binds the assertion to this endpoint.
    def drop(xml: str) -> str:
        return re.sub(r' Destination="[^"]+"', "", xml, count=1)

    assert answer(saml, browser, edit=drop, sign_response=False, sign_assertion=True).landed


def test_unsigned_response_for_another_destination_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    def move(xml: str) -> str:
        return xml.replace(f'Destination="{saml.acs_url}"', 'Destination="https://x.example/acs"')

    outcome = answer(saml, browser, edit=move, sign_response=False, sign_assertion=True)
    assert_refused_cleanly(saml.world, outcome, 401, reason="saml_response_invalid")


@pytest.mark.parametrize(
    "qualifier",
    ['SPNameQualifier="https://other-sp.example/metadata"', 'NameQualifier="https://idp.other"'],
    ids=["other_sp", "other_idp"],
)
def test_nameid_qualified_for_another_party_is_refused(saml: SamlWorld, browser, qualifier) -> None:  # type: ignore[no-untyped-def]
    edit = (r"<ns1:NameID ", f"<ns1:NameID {qualifier} ")
    outcome = answer(saml, browser, **resigned(saml, edit))
    assert_refused_by_rule(saml.world, outcome, "Qualifier names another")


def test_nameid_qualified_for_us_and_our_idp_is_accepted(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    ours = f'SPNameQualifier="{saml.sp_entity_id}" NameQualifier="{saml.idp.entity_id}"'
    assert answer(saml, browser, **resigned(saml, (r"<ns1:NameID ", f"<ns1:NameID {ours} "))).landed


def test_solicited_assertion_posted_as_idp_initiated_is_refused(saml: SamlWorld) -> None:
    # A response captured on its way to one browser, its unsigned wrapper's InResponseTo
    # removed, posted without RelayState from another: the signed confirmation still names
    # the request it answers, and there is none outstanding here.
    saml.configure(allow_idp_initiated=True)
    request_id, _ = saml.start(saml.world.browser())
    xml = saml.idp.respond(
        request_id, saml.acs_url, saml.sp_entity_id, sign_response=False, sign_assertion=True
    )
    stripped = xml.replace(f' InResponseTo="{request_id}"', "", 1)
    assert stripped.count(f'InResponseTo="{request_id}"') == 1  # the signed one remains
    outcome = saml.post(saml.world.browser(), stripped, "")
    assert_refused_by_rule(saml.world, outcome, "confirmation InResponseTo without an outstanding")


def test_confirmation_answering_another_request_is_refused(saml: SamlWorld, browser) -> None:  # type: ignore[no-untyped-def]
    # The unsigned Response names this browser's request, the signed assertion another one.
    request_id, relay = saml.start(browser)
    xml = saml.idp.respond(
        "id-another-request",
        saml.acs_url,
        saml.sp_entity_id,
        sign_response=False,
        sign_assertion=True,
    )
    xml = xml.replace('InResponseTo="id-another-request"', f'InResponseTo="{request_id}"', 1)
    outcome = saml.post(browser, xml, relay)
    assert_refused_cleanly(saml.world, outcome, 401, reason="saml_response_invalid")


def test_encrypted_confirmation_answering_another_request_is_refused(
    saml: SamlWorld, browser
) -> None:  # type: ignore[no-untyped-def]
    # pysaml2 compares the confirmations' InResponseTo only in plaintext assertions.
    outcome = _encrypted(saml, browser, extra_unsigned=False, answering="id-another-request")
    assert_refused_by_rule(saml.world, outcome, "confirmation InResponseTo is not this browser's")


@pytest.mark.parametrize(
    "doctype",
    [
        "<!DOCTYPE ns0:Response>",
        '<!DOCTYPE ns0:Response SYSTEM "saml.dtd">',
        f'<!DOCTYPE ns0:Response [<!ATTLIST ns1:NameID Format CDATA "{PERSISTENT}">]>',
    ],
    ids=["bare", "external", "attlist_default"],
)
def test_any_document_type_declaration_is_refused_as_malformed(
    saml: SamlWorld, browser, doctype: str
) -> None:  # type: ignore[no-untyped-def]
    # The ATTLIST default would hand the NameID a Format the IdP never signed: the parser
    # applies it, the signature check does not see it.
    saml.idp.name_id_format = None

    def declare(xml: str) -> str:
        return xml.replace('<?xml version="1.0"?>', '<?xml version="1.0"?>' + doctype, 1)

    outcome = answer(saml, browser, edit=declare)
    assert_refused_cleanly(saml.world, outcome, 400, reason="saml_malformed")
