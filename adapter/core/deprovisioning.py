"""What a deprovisioning changes on a BigCommerce customer, and what a reactivation puts back.

BigCommerce keeps every customer on at least one channel (customers.v3.yml: `channel_ids`
"cannot be empty"), so taking away a connection's channels may leave the customer one of them;
the plan says so, and the audit event shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapter.core.policy import ProvisioningPolicy


@dataclass(frozen=True)
class ChannelsAfter:
    channel_ids: list[int]
    # True when BigCommerce's rule kept a channel the connection serves.
    kept_one: bool


def channels_after_removal(
    current: Sequence[int] | None, store_channels: Sequence[int], removed: Sequence[int]
) -> ChannelsAfter:
    """The customer's channels without the connection's. `current` None: every channel
    (BigCommerce's global customer), read as the store's channels."""
    base = list(current) if current is not None else list(store_channels)
    remaining = [c for c in base if c not in removed]
    if remaining:
        return ChannelsAfter(remaining, False)
    return ChannelsAfter(base[:1] or list(removed[:1]), True)


@dataclass(frozen=True)
class CustomerChange:
    """The fields to write on the customer, and what to remember to undo them."""

    fields: dict[str, Any]
    undo: dict[str, Any]
    kept_channel: bool = False


def deactivation_change(
    policy: ProvisioningPolicy,
    *,
    customer_group_id: int | None,
    channel_ids: Sequence[int] | None,
    store_channels: Sequence[int],
    connection_channels: Sequence[int],
    undo: dict[str, Any],
) -> CustomerChange:
    """The customer fields the connection's `on_deactivate` actions write. `undo` is what an
    earlier, unfinished attempt remembered: the values from before it are kept."""
    fields: dict[str, Any] = {}
    remembered = dict(undo)
    kept = False
    if "customer_group" in policy.on_deactivate:
        remembered.setdefault("customer_group_id", customer_group_id or 0)
        fields["customer_group_id"] = policy.deactivated_customer_group_id
    if "remove_channels" in policy.on_deactivate:
        remembered.setdefault("channel_ids", None if channel_ids is None else list(channel_ids))
        after = channels_after_removal(channel_ids, store_channels, connection_channels)
        fields["channel_ids"] = after.channel_ids
        kept = after.kept_one
    return CustomerChange(fields, remembered, kept)


def reactivation_fields(undo: dict[str, Any]) -> dict[str, Any]:
    """The customer fields a reactivation writes back."""
    fields: dict[str, Any] = {}
    if "customer_group_id" in undo:
        fields["customer_group_id"] = undo["customer_group_id"]
    if "channel_ids" in undo:
        fields["channel_ids"] = undo["channel_ids"]
    return fields
