"""What a login in flight remembers between two requests, and its one stored shape.

    InFlight
    ├── OidcAuthorization   sent to the OP; awaits the callback (nonce, PKCE verifier)
    ├── SamlAuthnRequest    sent to the IdP; awaits the ACS (the request's ID)
    └── SamlAsserted        verified at the ACS; awaits the finish step in the browser that
                            started the login (the identity, parked)

Each may carry a `LinkInProgress`: the storefront customer a link was started for.

The stored shape is the flat dictionary earlier releases wrote, plus a `kind` tag. During a
rolling upgrade a login started on one replica may finish on another of the previous
release, so both directions must read: `read` accepts the untagged shape, and what `dump`
writes still has every key the previous reader looks up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapter.core.identity import Identity


class UnreadableLoginState(ValueError):
    """A stored login state in no shape this release knows."""


@dataclass(frozen=True)
class LinkInProgress:
    """A link started with the storefront's Current Customer JWT, verified at the start."""

    customer_id: int
    email: str | None  # the storefront's address for the customer, for the link's checks


@dataclass(frozen=True)
class OidcAuthorization:
    nonce: str
    code_verifier: str
    link: LinkInProgress | None = None


@dataclass(frozen=True)
class SamlAuthnRequest:
    request_id: str
    link: LinkInProgress | None = None


@dataclass(frozen=True)
class SamlAsserted:
    identity: Identity
    link: LinkInProgress | None = None


InFlight = OidcAuthorization | SamlAuthnRequest | SamlAsserted

_OIDC, _SAML_REQUEST, _SAML_ASSERTED = "oidc", "saml_request", "saml_asserted"


def dump(flight: InFlight) -> dict[str, Any]:
    """The stored shape of `flight` (JSON-ready)."""
    stored: dict[str, Any]
    match flight:
        case OidcAuthorization():
            stored = {"kind": _OIDC, "nonce": flight.nonce, "code_verifier": flight.code_verifier}
        case SamlAuthnRequest():
            stored = {"kind": _SAML_REQUEST, "saml_request_id": flight.request_id}
        case SamlAsserted():
            stored = {"kind": _SAML_ASSERTED, "identity": _dump_identity(flight.identity)}
    if flight.link is not None:
        stored["link_customer_id"] = flight.link.customer_id
        stored["link_customer_email"] = flight.link.email
    return stored


def read(stored: dict[str, Any]) -> InFlight:
    """The login `stored` describes, whether this release or the previous one wrote it."""
    try:
        kind = stored.get("kind") or _kind_by_keys(stored)
        link = _read_link(stored)
        if kind == _OIDC:
            return OidcAuthorization(
                nonce=str(stored["nonce"]), code_verifier=str(stored["code_verifier"]), link=link
            )
        if kind == _SAML_REQUEST:
            return SamlAuthnRequest(request_id=str(stored["saml_request_id"]), link=link)
        if kind == _SAML_ASSERTED:
            return SamlAsserted(identity=_read_identity(stored["identity"]), link=link)
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadableLoginState(f"login state unreadable: {type(exc).__name__}") from None
    raise UnreadableLoginState(f"login state of unknown kind {kind!r}")


def _kind_by_keys(stored: dict[str, Any]) -> str | None:
    # The previous release wrote no tag: its keys tell the kinds apart.
    if "identity" in stored:
        return _SAML_ASSERTED
    if "saml_request_id" in stored:
        return _SAML_REQUEST
    if "nonce" in stored:
        return _OIDC
    return None


def _read_link(stored: dict[str, Any]) -> LinkInProgress | None:
    if stored.get("link_customer_id") is None:
        return None
    email = stored.get("link_customer_email")
    return LinkInProgress(
        customer_id=int(stored["link_customer_id"]),
        email=None if email is None else str(email),
    )


def _dump_identity(identity: Identity) -> dict[str, Any]:
    # The claims are not kept: everything after the ACS reads the normalised fields only.
    return {
        "issuer": identity.issuer,
        "subject": identity.subject,
        "email": identity.email,
        "email_verified": identity.email_verified,
        "first_name": identity.first_name,
        "last_name": identity.last_name,
        "groups": list(identity.groups),
    }


def _read_identity(stored: dict[str, Any]) -> Identity:
    return Identity(
        issuer=str(stored["issuer"]),
        subject=str(stored["subject"]),
        email=stored.get("email"),
        email_verified=bool(stored.get("email_verified")),
        first_name=stored.get("first_name"),
        last_name=stored.get("last_name"),
        groups=tuple(stored.get("groups") or ()),
    )
