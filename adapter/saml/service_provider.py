"""The SAML service provider of one connection, on pysaml2.

pysaml2 checks the signature (with keys from the IdP's metadata only), the validity windows
and the status, and some of the rest loosely. Around it this module adds what it leaves to its
caller: the raw document is parsed first and refused if it declares a document type or
entities (before anything else parses it), must hold exactly one assertion and must not use
SHA-1 unless allowed; afterwards every rule of the Web Browser SSO Profile is checked again,
strictly (`browser_sso`). What we read comes from the assertion pysaml2 verified, never from a
second parse of the message, and nothing of it stays in pysaml2's memory.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.cache import Cache
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.response import AuthnResponse, StatusError
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT
from saml2.sigver import SignatureError
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from adapter.errors import BadRequest, NotVerified
from adapter.saml import schema
from adapter.saml.browser_sso import (
    BrowserSsoExpectations,
    check_assertion,
    check_response,
    refuse,
)
from adapter.saml.crypto import InProcessXmlSecBackend

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"

schema.install()

MAX_RESPONSE_BYTES = 512 * 1024
NAMEID_FORMAT_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_FORMAT_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"


@dataclass(frozen=True)
class ServiceProviderSettings:
    entity_id: str
    acs_url: str
    idp_entity_id: str
    idp_metadata_xml: str
    private_key_pem: str
    certificate_pem: str
    sign_requests: bool
    allow_idp_initiated: bool
    allow_sha1: bool
    clock_skew_seconds: int
    # "inprocess" (python-xmlsec) or "xmlsec1" (pysaml2's default: one subprocess per check)
    crypto_backend: str = "inprocess"


@dataclass(frozen=True)
class VerifiedAssertion:
    assertion_id: str
    issuer: str
    name_id: str | None
    name_id_format: str | None
    attributes: dict[str, list[str]]
    in_response_to: str | None
    # The latest instant any of its validity windows closes. `verify` always sets it (the
    # profile demands a NotOnOrAfter); None only in the console's dry run, which never
    # reaches the replay ledger.
    not_on_or_after: datetime | None


def precheck_response(raw: bytes, *, allow_sha1: bool) -> None:
    """Checks on the document itself, before any cryptography."""
    try:
        # No document type declaration at all, not only no entities: an ATTLIST default is
        # applied by the parser that builds what we read, yet is covered by no signature.
        root = fromstring(raw, forbid_dtd=True)
    except DefusedXmlException:
        raise BadRequest("SAMLResponse uses a DTD or entities", code="saml_malformed") from None
    except ParseError:
        raise BadRequest("SAMLResponse is not XML", code="saml_malformed") from None
    if root.tag != f"{{{SAMLP}}}Response":
        raise BadRequest("SAMLResponse is not a Response", code="saml_malformed")
    assertions = root.findall(f".//{{{SAML}}}Assertion") + root.findall(
        f".//{{{SAML}}}EncryptedAssertion"
    )
    if len(assertions) != 1:
        raise refuse(f"{len(assertions)} assertions instead of exactly one")
    # Encrypted content may only sit where SAML puts it; a stray EncryptedData could decrypt
    # to a second, unsigned assertion.
    allowed_parents = {
        f"{{{SAML}}}{name}" for name in ("EncryptedAssertion", "EncryptedID", "EncryptedAttribute")
    }
    parents = {child: parent for parent in root.iter() for child in parent}
    for data in root.iter(f"{{{XENC}}}EncryptedData"):
        if parents.get(data) is None or parents[data].tag not in allowed_parents:
            raise refuse("EncryptedData outside an encrypted SAML element")
    if not allow_sha1:
        for method in root.iter(f"{{{DS}}}SignatureMethod"):
            if "sha1" in (method.get("Algorithm") or "").lower():
                raise refuse("SHA-1 signature")
        for method in root.iter(f"{{{DS}}}DigestMethod"):
            if "sha1" in (method.get("Algorithm") or "").lower():
                raise refuse("SHA-1 digest")


def _uses_sha1(signature: Any) -> bool:
    signed_info = signature.signed_info
    algorithms = [signed_info.signature_method.algorithm]
    algorithms += [r.digest_method.algorithm for r in signed_info.reference if r.digest_method]
    return any("sha1" in (a or "").lower() for a in algorithms)


def _attributes(assertion: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute or []:
            values = [v.text.strip() for v in attribute.attribute_value or [] if v.text]
            found.setdefault(str(attribute.name), []).extend(values)
    return found


# pysaml2 has no type information: to the type checker this class and the two below
# subclass Any.
class _Forgetful(Cache):  # type: ignore[misc]
    """pysaml2's client files the subject and attributes of every response it parses in an
    identity cache, for single logout and attribute queries we never make. Its default cache
    lives in memory and is never emptied: over a process's life it would hold everyone who
    signed in. This one keeps nothing."""

    def set(self, name_id: Any, entity_id: Any, info: Any, not_on_or_after: Any = 0) -> None:
        return None


class _AuthnResponse(AuthnResponse):  # type: ignore[misc]
    """pysaml2's response, remembering the assertion's SubjectConfirmations as they came:
    `get_subject` keeps only those pysaml2 could confirm and drops the rest without a word,
    yet every one of them must meet the profile."""

    carried_confirmations: list[Any]

    def get_subject(self, keys: Any = None) -> Any:
        subject = getattr(self.assertion, "subject", None)
        self.carried_confirmations = list(getattr(subject, "subject_confirmation", None) or [])
        return super().get_subject(keys)


class _Client(Saml2Client):  # type: ignore[misc]
    """pysaml2's client, reading authentication responses with `_AuthnResponse`. It hooks a
    method pysaml2 keeps private; should that change, no confirmation is remembered and every
    response is refused ("no SubjectConfirmation"), never accepted unchecked."""

    def _parse_response(
        self, xmlstr: str, response_cls: type[Any], service: str, binding: str, **kwargs: Any
    ) -> Any:
        if response_cls is AuthnResponse:
            response_cls = _AuthnResponse
        return super()._parse_response(xmlstr, response_cls, service, binding, **kwargs)


class ServiceProvider:
    def __init__(self, settings: ServiceProviderSettings, workdir: str):
        self.settings = settings
        # pysaml2 reads keys from files: private to this process, removed with the directory.
        self._dir = tempfile.mkdtemp(prefix="sp-", dir=workdir)
        key_file = os.path.join(self._dir, "sp.key")
        cert_file = os.path.join(self._dir, "sp.crt")
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            handle.write(settings.private_key_pem)
        with open(cert_file, "w") as handle:
            handle.write(settings.certificate_pem)
        config = SPConfig()
        config.load(
            {
                "entityid": settings.entity_id,
                "service": {
                    "sp": {
                        "endpoints": {
                            "assertion_consumer_service": [(settings.acs_url, BINDING_HTTP_POST)]
                        },
                        "allow_unsolicited": settings.allow_idp_initiated,
                        "authn_requests_signed": settings.sign_requests,
                        "want_response_signed": False,
                        "want_assertions_signed": False,
                        "want_assertions_or_response_signed": True,
                        "only_use_keys_in_metadata": True,
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_EMAIL],
                        "name_id_format_allow_create": True,
                    }
                },
                "metadata": {"inline": [settings.idp_metadata_xml]},
                "key_file": key_file,
                "cert_file": cert_file,
                "encryption_keypairs": [{"key_file": key_file, "cert_file": cert_file}],
                "accepted_time_diff": settings.clock_skew_seconds,
                "allow_unknown_attributes": True,
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
            }
        )
        self._config = config
        self._client = _Client(config, identity_cache=_Forgetful())
        if settings.crypto_backend == "inprocess":
            self._client.sec.crypto = InProcessXmlSecBackend(self._client.sec.crypto.xmlsec)

    def metadata(self) -> str:
        return str(entity_descriptor(self._config))

    def authn_request(self, relay_state: str) -> tuple[str, str]:
        """(request id, URL to send the browser to) for the HTTP-Redirect binding."""
        request_id, info = self._client.prepare_for_authenticate(
            entityid=self.settings.idp_entity_id,
            relay_state=relay_state,
            binding=BINDING_HTTP_REDIRECT,
            sign=self.settings.sign_requests,
            sigalg=SIG_RSA_SHA256 if self.settings.sign_requests else None,
            digest_alg=DIGEST_SHA256,
        )
        location = dict(info["headers"])["Location"]
        return request_id, location

    def verify(self, saml_response: str, outstanding_request_id: str | None) -> VerifiedAssertion:
        if len(saml_response) > MAX_RESPONSE_BYTES * 4 // 3 + 4:
            raise BadRequest("SAMLResponse too large", code="saml_malformed")
        try:
            raw = base64.b64decode(saml_response, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("SAMLResponse is not base64", code="saml_malformed") from None
        precheck_response(raw, allow_sha1=self.settings.allow_sha1)
        outstanding = {outstanding_request_id: "/"} if outstanding_request_id else {}
        try:
            response = self._client.parse_authn_request_response(
                saml_response, BINDING_HTTP_POST, outstanding=outstanding
            )
        except StatusError as exc:
            raise NotVerified(
                f"saml: IdP status {type(exc).__name__}", code="idp_refused"
            ) from None
        except SignatureError as exc:
            raise refuse(f"signature ({type(exc).__name__})") from None
        except Exception as exc:  # pysaml2 signals most refusals with assorted exceptions
            raise refuse(f"{type(exc).__name__}: {str(exc)[:200]}") from None
        if response is None:
            raise refuse("no response")
        return self._read(response, outstanding_request_id)

    def _read(self, response: Any, outstanding_request_id: str | None) -> VerifiedAssertion:
        assertion = response.assertion  # the one pysaml2 verified; precheck allowed only one
        if assertion is None or len(getattr(response, "assertions", None) or [assertion]) != 1:
            raise refuse("not exactly one assertion after decryption")
        if not self.settings.allow_sha1:
            # Again after decryption: a signature inside an encrypted assertion was not
            # visible to the precheck.
            for signed in (response.response, assertion):
                signature = getattr(signed, "signature", None)
                if signature is not None and _uses_sha1(signature):
                    raise refuse("SHA-1 signature or digest")
        expected = BrowserSsoExpectations(
            sp_entity_id=self.settings.entity_id,
            acs_url=self.settings.acs_url,
            idp_entity_id=self.settings.idp_entity_id,
            outstanding_request_id=outstanding_request_id,
        )
        check_response(response.response, expected)
        name_id = response.name_id
        not_on_or_after = check_assertion(
            assertion, name_id, getattr(response, "carried_confirmations", []), expected
        )
        return VerifiedAssertion(
            assertion_id=assertion.id,
            issuer=self.settings.idp_entity_id,
            name_id=name_id.text.strip() if name_id is not None and name_id.text else None,
            name_id_format=getattr(name_id, "format", None) or NAMEID_FORMAT_UNSPECIFIED,
            # Read from the verified assertion itself, never from pysaml2's merge of every
            # assertion it may have collected.
            attributes=_attributes(assertion),
            in_response_to=response.response.in_response_to,
            not_on_or_after=not_on_or_after,
        )

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


__all__ = [
    "NAMEID_FORMAT_PERSISTENT",
    "NAMEID_FORMAT_TRANSIENT",
    "ServiceProvider",
    "ServiceProviderSettings",
    "VerifiedAssertion",
]
