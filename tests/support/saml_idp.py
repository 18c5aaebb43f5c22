"""A SAML identity provider for the test suite: pysaml2's own `saml2.server.Server`, with a
key pair made here, answering AuthnRequests over HTTP and signing real responses.

`respond` builds a response for any request id, and `sign` re-signs a document edited by a
test, so that each forgery reaches the adapter's ACS exactly as an attacker would send it.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlsplit

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tests.support.certificates import self_signed

ENTRA_EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
ENTRA_GIVEN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
ENTRA_SURNAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"


class SandboxSamlIdp:
    def __init__(self, base_url: str, key_name: str = "saml-idp"):
        self.base_url = base_url
        self.entity_id = f"{base_url}/metadata"
        self._dir = tempfile.mkdtemp(prefix="test-idp-")
        key, cert = self_signed(key_name)
        self.key_file = os.path.join(self._dir, "idp.key")
        self.cert_file = os.path.join(self._dir, "idp.crt")
        with open(self.key_file, "w") as handle:
            handle.write(key)
        with open(self.cert_file, "w") as handle:
            handle.write(cert)
        self.certificate_pem = cert
        self.name_id = "ada-persistent-0001"
        self.name_id_format = NAMEID_FORMAT_PERSISTENT
        self.attributes: dict[str, list[str]] = {
            ENTRA_EMAIL: ["ada@example.com"],
            ENTRA_GIVEN: ["Ada"],
            ENTRA_SURNAME: ["Lovelace"],
        }
        self.sign_response, self.sign_assertion = True, True
        self.sp_metadata: list[str] = []
        self.server = self._server()

    def _config(self) -> dict[str, Any]:
        return {
            "entityid": self.entity_id,
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(f"{self.base_url}/sso", BINDING_HTTP_REDIRECT)]
                    },
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 5},
                            "attribute_restrictions": None,
                            "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
                        }
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                }
            },
            "key_file": self.key_file,
            "cert_file": self.cert_file,
            "metadata": {"inline": list(self.sp_metadata)} if self.sp_metadata else {},
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
        }

    def _server(self) -> Server:
        config = IdPConfig()
        config.load(self._config())
        return Server(config=config)

    def metadata(self) -> str:
        config = IdPConfig()
        config.load({**self._config(), "metadata": {}})
        return str(entity_descriptor(config))

    def trust_sp(self, sp_metadata: str) -> None:
        self.sp_metadata = [sp_metadata]
        self.server = self._server()

    # -- responses ----------------------------------------------------------------------------

    def respond(
        self,
        in_response_to: str | None,
        acs_url: str,
        sp_entity_id: str,
        *,
        sign_response: bool | None = None,
        sign_assertion: bool | None = None,
        sign_alg: str = SIG_RSA_SHA256,
        digest_alg: str = DIGEST_SHA256,
        name_id: str | None = None,
        attributes: dict[str, list[str]] | None = None,
        **extra: Any,
    ) -> str:
        """A response as XML text."""
        response = self.server.create_authn_response(
            identity=dict(attributes if attributes is not None else self.attributes),
            in_response_to=in_response_to,
            destination=acs_url,
            sp_entity_id=sp_entity_id,
            name_id=NameID(format=self.name_id_format, text=name_id or self.name_id),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
            sign_response=self.sign_response if sign_response is None else sign_response,
            sign_assertion=self.sign_assertion if sign_assertion is None else sign_assertion,
            sign_alg=sign_alg,
            digest_alg=digest_alg,
            **extra,
        )
        return str(response)

    def resign(self, xml: str) -> str:
        """Sign the Response again after a test edited it (its signature element stays and
        xmlsec fills in fresh digest and signature values), so only the edit is wrong."""
        from saml2 import class_name, samlp

        match = re.search(r'<\w+:Response [^>]*\bID="([^"]+)"', xml)
        assert match, "no Response"
        return self.server.sec.sign_statement(
            xml, class_name(samlp.Response()), node_id=match.group(1)
        )

    # -- over HTTP ----------------------------------------------------------------------------

    async def sso(self, request: Request) -> Response:
        """HTTP-Redirect binding in, HTTP-POST binding out (an auto-submitting form)."""
        saml_request = request.query_params.get("SAMLRequest")
        relay_state = request.query_params.get("RelayState", "")
        parsed = self.server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT)
        authn = parsed.message
        acs_url = authn.assertion_consumer_service_url
        xml = self.respond(authn.id, acs_url, authn.issuer.text)
        return HTMLResponse(self.post_form(acs_url, xml, relay_state))

    @staticmethod
    def post_form(acs_url: str, xml: str, relay_state: str = "") -> str:
        encoded = base64.b64encode(xml.encode()).decode()
        return f"""<!doctype html><html><body onload="document.forms[0].submit()">
<form method="post" action="{escape(acs_url)}">
<input type="hidden" name="SAMLResponse" value="{encoded}">
<input type="hidden" name="RelayState" value="{escape(relay_state)}">
<noscript><button type="submit">Continue</button></noscript></form></body></html>"""

    async def metadata_endpoint(self, request: Request) -> Response:
        return Response(self.metadata(), media_type="application/samlmetadata+xml")

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/sso", self.sso), Route("/metadata", self.metadata_endpoint)]
        )


def form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', html))


def request_id_of(redirect_url: str) -> str:
    """The ID of the AuthnRequest carried in an HTTP-Redirect URL."""
    import zlib

    saml_request = parse_qs(urlsplit(redirect_url).query)["SAMLRequest"][0]
    xml = zlib.decompress(base64.b64decode(saml_request), -15).decode()
    match = re.search(r'ID="([^"]+)"', xml)
    assert match
    return match.group(1)


__all__ = ["BINDING_HTTP_POST", "SandboxSamlIdp", "form_fields", "request_id_of"]


def encrypt_for(certificate_pem: str, element: Any) -> Any:
    """An xenc:EncryptedData of an lxml element, encrypted to a certificate's public key
    (as an IdP encrypts to the SP, or as anyone holding the SP's public certificate can)."""
    import xmlsec
    from lxml import etree

    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as handle:
        handle.write(certificate_pem)
    holder = etree.Element("holder")
    holder.append(element)
    template = xmlsec.template.encrypted_data_create(
        holder, xmlsec.constants.TransformAes256Gcm, type=xmlsec.constants.TypeEncElement, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_file(handle.name, xmlsec.constants.KeyDataFormatCertPem))
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(
        xmlsec.constants.KeyDataAes, 256, xmlsec.constants.KeyDataTypeSession
    )
    os.remove(handle.name)
    return context.encrypt_xml(template, element)
