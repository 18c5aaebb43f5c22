"""The SAML service provider of one connection.

pysaml2 builds what the SP says (its metadata, its AuthnRequests). What the IdP answers is
read by one of two readers and then held to every rule of the Web Browser SSO Profile,
strictly (`browser_sso`), whichever read it:

- `single_parse` (the default): the adapter's own reader (`response_reader`): one lxml parse,
  the signatures verified on that tree with python-xmlsec, the facts read from the elements
  that were verified;
- `pysaml2`: pysaml2's response parser and object model, with its signature checks done
  in-process (`crypto`) or by the `xmlsec1` program; the document is checked first by the
  same lxml parse (`response_reader.check_document`), and pysaml2's own checks apply on top.

What we read comes from the verified assertion, never from a second parse of the message,
and nothing of it stays in pysaml2's memory.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import xmlsec
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
    check_times,
    refuse,
)
from adapter.saml.crypto import InProcessXmlSecBackend
from adapter.saml.metadata import parse_idp_metadata
from adapter.saml.response_facts import (
    AssertionFacts,
    Confirmation,
    Issuer,
    NameId,
    ResponseFacts,
)
from adapter.saml.response_reader import ReadResponse, check_document, parse, read_verified

schema.install()

MAX_RESPONSE_BYTES = 512 * 1024
NAMEID_FORMAT_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_FORMAT_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
READERS = ("single_parse", "pysaml2")


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
    # "single_parse" (the adapter's reader) or "pysaml2" (see the module's note)
    response_reader: str = "single_parse"
    # For the pysaml2 reader: "inprocess" (python-xmlsec) or "xmlsec1" (pysaml2's default:
    # one subprocess per check)
    crypto_backend: str = "inprocess"
    # The NameID formats the IdP's metadata lists (for the operator's warnings).
    idp_name_id_formats: tuple[str, ...] = ()


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


def _issuer(issuer: Any) -> Issuer | None:
    if issuer is None:
        return None
    return Issuer(value=(issuer.text or "").strip(), format=issuer.format)


def _uses_sha1(signature: Any) -> bool:
    signed_info = signature.signed_info
    algorithms = [signed_info.signature_method.algorithm]
    algorithms += [r.digest_method.algorithm for r in signed_info.reference if r.digest_method]
    return any("sha1" in (a or "").lower() for a in algorithms)


def _pysaml2_attributes(assertion: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute or []:
            values = [v.text.strip() for v in attribute.attribute_value or [] if v.text]
            found.setdefault(str(attribute.name), []).extend(values)
    return found


def _facts_from_pysaml2(response: Any) -> ReadResponse:
    """The facts of what pysaml2 verified, as the rules read them."""
    message, assertion = response.response, response.assertion
    name_id = response.name_id
    conditions = assertion.conditions
    statements = assertion.authn_statement or []
    return ReadResponse(
        response=ResponseFacts(
            signed=message.signature is not None,
            version=message.version,
            issue_instant=message.issue_instant,
            destination=message.destination,
            in_response_to=message.in_response_to,
            issuer=_issuer(message.issuer),
        ),
        assertion=AssertionFacts(
            id=assertion.id,
            version=assertion.version,
            issuer=_issuer(assertion.issuer),
            has_subject=assertion.subject is not None,
            name_id=NameId(
                value=(name_id.text or "").strip() or None,
                format=name_id.format,
                name_qualifier=name_id.name_qualifier,
                sp_name_qualifier=name_id.sp_name_qualifier,
            )
            if name_id is not None
            else None,
            confirmations=tuple(
                Confirmation(method=c.method, has_data=False)
                if c.subject_confirmation_data is None
                else Confirmation(
                    method=c.method,
                    has_data=True,
                    recipient=c.subject_confirmation_data.recipient,
                    not_before=c.subject_confirmation_data.not_before,
                    not_on_or_after=c.subject_confirmation_data.not_on_or_after,
                    in_response_to=c.subject_confirmation_data.in_response_to,
                )
                for c in getattr(response, "carried_confirmations", [])
            ),
            has_conditions=conditions is not None,
            not_before=conditions.not_before if conditions is not None else None,
            not_on_or_after=conditions.not_on_or_after if conditions is not None else None,
            audience_restrictions=tuple(
                frozenset((a.text or "").strip() for a in r.audience or [])
                for r in (conditions.audience_restriction or [])
            )
            if conditions is not None
            else (),
            unknown_conditions=len(conditions.condition or []) if conditions is not None else 0,
            authn_statements=len(statements),
            session_not_on_or_after=statements[0].session_not_on_or_after if statements else None,
            # Read from the verified assertion itself, never from pysaml2's merge of every
            # assertion it may have collected.
            attributes=_pysaml2_attributes(assertion),
        ),
    )


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
        # The IdP's signing keys, from its metadata only, loaded once.
        self._idp_keys = [
            xmlsec.Key.from_memory(pem.encode(), xmlsec.constants.KeyDataFormatCertPem)
            for pem in parse_idp_metadata(settings.idp_metadata_xml).signing_certificates
        ]
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
        if self.settings.response_reader == "pysaml2":
            read = self._read_with_pysaml2(raw, saml_response, outstanding_request_id)
        else:
            read = read_verified(
                raw,
                idp_keys=self._idp_keys,
                sp_private_key_pem=self.settings.private_key_pem,
                allow_sha1=self.settings.allow_sha1,
            )
        expected = BrowserSsoExpectations(
            sp_entity_id=self.settings.entity_id,
            acs_url=self.settings.acs_url,
            idp_entity_id=self.settings.idp_entity_id,
            outstanding_request_id=outstanding_request_id,
        )
        check_response(read.response, expected)
        not_on_or_after = check_assertion(read.assertion, expected)
        now = datetime.fromtimestamp(time.time(), UTC)
        check_times(read.response, read.assertion, now, self.settings.clock_skew_seconds)
        name_id = read.assertion.name_id
        return VerifiedAssertion(
            assertion_id=read.assertion.id,
            issuer=self.settings.idp_entity_id,
            name_id=name_id.value if name_id is not None else None,
            name_id_format=(name_id.format if name_id is not None else None)
            or NAMEID_FORMAT_UNSPECIFIED,
            attributes=read.assertion.attributes,
            in_response_to=read.response.in_response_to,
            not_on_or_after=not_on_or_after,
        )

    def _read_with_pysaml2(
        self, raw: bytes, saml_response: str, outstanding_request_id: str | None
    ) -> ReadResponse:
        check_document(parse(raw), allow_sha1=self.settings.allow_sha1)
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
        assertion = response.assertion  # the one pysaml2 verified; the check allowed only one
        if assertion is None or len(getattr(response, "assertions", None) or [assertion]) != 1:
            raise refuse("not exactly one assertion after decryption")
        if not self.settings.allow_sha1:
            # Again after decryption: a signature inside an encrypted assertion was not
            # visible to the document check.
            for signed in (response.response, assertion):
                signature = getattr(signed, "signature", None)
                if signature is not None and _uses_sha1(signature):
                    raise refuse("SHA-1 signature or digest")
        return _facts_from_pysaml2(response)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


__all__ = [
    "NAMEID_FORMAT_PERSISTENT",
    "NAMEID_FORMAT_TRANSIENT",
    "ServiceProvider",
    "ServiceProviderSettings",
    "VerifiedAssertion",
]
