"""Settings that cannot work together, named for the operator with what to change.

A shopper refused by one of these only sees a plain refusal page; the operator sees the
warning in the dry-run test login, in `apply --dry-run` and in the admin API's answers, before
the first shopper meets it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapter.core.policy import OidcPolicy, SamlPolicy

NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
ENTRA_ISSUER_HOSTS = ("login.microsoftonline.com", "sts.windows.net", "login.microsoftonline.us")


@dataclass(frozen=True)
class Warning:
    code: str
    field: str
    message: str


def _is_entra(issuer: str) -> bool:
    host = issuer.split("://", 1)[-1].split("/", 1)[0].lower()
    return host in ENTRA_ISSUER_HOSTS


def connection_warnings(
    policy: OidcPolicy | SamlPolicy, *, idp_name_id_formats: Sequence[str] = ()
) -> list[Warning]:
    """What in a connection's settings keeps logins from working as the operator meant."""
    found: list[Warning] = []
    uses_email = policy.create_customers or policy.link_by_email
    if isinstance(policy, SamlPolicy) and uses_email and not policy.email_verified:
        found.append(
            Warning(
                "saml_email_never_verified",
                "email_verified",
                "SAML carries no email_verified statement, so without `email_verified: true` "
                "this connection can never link or create a customer by e-mail: every first "
                "login is refused. Set `email_verified: true` if the IdP only asserts "
                "addresses it verified, or link people by hand.",
            )
        )
    if (
        isinstance(policy, OidcPolicy)
        and _is_entra(policy.issuer)
        and uses_email
        and not policy.email_verified
    ):
        found.append(
            Warning(
                "entra_sends_no_email_verified",
                "email_verified",
                "Entra ID does not put `email_verified` in its ID tokens, so this connection "
                "can never link or create a customer by e-mail: every first login is refused. "
                "Set `email_verified: true` if the tenant only holds verified addresses.",
            )
        )
    if (
        isinstance(policy, SamlPolicy)
        and policy.subject_attribute is None
        and idp_name_id_formats
        and NAMEID_PERSISTENT not in idp_name_id_formats
    ):
        only_email = set(idp_name_id_formats) == {NAMEID_EMAIL}
        found.append(
            Warning(
                "saml_nameid_not_persistent",
                "subject_attribute",
                (
                    "The IdP sends e-mail NameIDs"
                    if only_email
                    else "The IdP's metadata offers no persistent NameID"
                )
                + ", and the connection keys logins on a persistent NameID "
                "(`subject_attribute` is not set): every login will be refused. Set "
                "`subject_attribute` to a stable attribute (Entra ID: "
                "http://schemas.microsoft.com/identity/claims/objectidentifier), or make the "
                "IdP send a persistent NameID.",
            )
        )
    return found


def unreachable_channels(
    store_channels: Sequence[int], connection_channels: Sequence[Sequence[int]]
) -> list[Warning]:
    """Channels of the store no connection serves: nobody can sign in there."""
    served = {c for channels in connection_channels for c in channels}
    return [
        Warning(
            "channel_unreachable",
            f"channels[{channel}]",
            f"No connection lists channel {channel} in `channel_ids`: nobody can sign in to "
            "that storefront through the adapter.",
        )
        for channel in store_channels
        if channel not in served
    ]
