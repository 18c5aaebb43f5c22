"""What a deprovisioning writes on a customer, and what a reactivation writes back."""

from __future__ import annotations

from adapter.core.deprovisioning import (
    channels_after_removal,
    deactivation_change,
    reactivation_fields,
)
from adapter.core.policy import ProvisioningPolicy


def test_the_connections_channels_are_taken_away_and_the_others_stay() -> None:
    after = channels_after_removal([1, 2, 3], [1, 2, 3], [1, 3])
    assert (after.channel_ids, after.kept_one) == ([2], False)


def test_a_global_customer_is_read_as_every_channel_of_the_store() -> None:
    after = channels_after_removal(None, [1, 2], [1])
    assert (after.channel_ids, after.kept_one) == ([2], False)


def test_bigcommerce_keeps_one_channel_and_the_plan_says_so() -> None:
    after = channels_after_removal([1], [1, 2], [1])
    assert (after.channel_ids, after.kept_one) == ([1], True)
    assert channels_after_removal(None, [1], [1]).kept_one


def test_a_retry_keeps_the_values_from_before_the_first_attempt() -> None:
    policy = ProvisioningPolicy(
        on_deactivate=("block", "customer_group", "remove_channels"),
        deactivated_customer_group_id=9,
    )
    first = deactivation_change(
        policy,
        customer_group_id=7,
        channel_ids=[1, 2],
        store_channels=[1, 2],
        connection_channels=[1],
        undo={},
    )
    assert first.fields == {"customer_group_id": 9, "channel_ids": [2]}
    assert first.undo == {"customer_group_id": 7, "channel_ids": [1, 2]}
    # The first attempt changed the customer, then failed: the retry reads the changed values.
    retry = deactivation_change(
        policy,
        customer_group_id=9,
        channel_ids=[2],
        store_channels=[1, 2],
        connection_channels=[1],
        undo=first.undo,
    )
    assert retry.undo == first.undo
    assert reactivation_fields(retry.undo) == {"customer_group_id": 7, "channel_ids": [1, 2]}


def test_block_alone_changes_nothing_on_the_customer() -> None:
    change = deactivation_change(
        ProvisioningPolicy(),
        customer_group_id=7,
        channel_ids=None,
        store_channels=[1],
        connection_channels=[1],
        undo={},
    )
    assert change.fields == {} and change.undo == {}
    assert reactivation_fields({}) == {}


def test_no_group_before_is_restored_as_no_group() -> None:
    policy = ProvisioningPolicy(
        on_deactivate=("block", "customer_group"), deactivated_customer_group_id=9
    )
    change = deactivation_change(
        policy,
        customer_group_id=None,
        channel_ids=[1],
        store_channels=[1],
        connection_channels=[1],
        undo={},
    )
    assert reactivation_fields(change.undo) == {"customer_group_id": 0}
