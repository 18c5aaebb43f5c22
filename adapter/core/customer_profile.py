"""What a customer record should say, derived from the identity and the connection's rules."""

from __future__ import annotations

from adapter.core.identity import Identity
from adapter.core.policy import ConnectionPolicy

MAX_NAME_LENGTH = 100


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())[:MAX_NAME_LENGTH]
    return value or None


def email_is_verified(identity: Identity, connection: ConnectionPolicy) -> bool:
    """Whether the identity's e-mail may be trusted: asserted verified, or vouched for."""
    return bool(identity.email) and (identity.email_verified or connection.email_verified)


def customer_names(identity: Identity) -> tuple[str, str]:
    """First and last name; BigCommerce requires both, so fall back on the e-mail's local
    part and a neutral surname rather than refusing the shopper."""
    first, last = _clean(identity.first_name), _clean(identity.last_name)
    if first is None:
        local = (identity.email or "").split("@", 1)[0]
        first = _clean(local.replace(".", " ").replace("_", " ").title()) or "Customer"
    if last is None:
        last = "-"
    return first, last


def customer_group(identity: Identity, connection: ConnectionPolicy) -> int | None:
    """The first group mapping the identity's groups match, else the connection's default."""
    groups = set(identity.groups)
    for mapping in connection.group_mappings:
        if mapping.group in groups:
            return mapping.customer_group_id
    return connection.customer_group_id
