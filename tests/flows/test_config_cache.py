"""Connections are cached per replica for SSO_ADAPTER_CONFIG_CACHE_SECONDS: a change through
this replica's admin API applies to the very next login, one made on another replica once
the cache time has passed."""

from __future__ import annotations

import sqlalchemy as sa

from adapter.clock import FrozenClock
from adapter.db.models import Connection
from tests.support.world import World


def test_a_connection_deleted_through_the_admin_api_is_gone_for_the_next_login(
    world: World,
) -> None:
    assert world.login().landed
    assert world.admin().delete("/stores/acme/connections/okta").status_code == 204
    assert world.login().start.status_code == 404


def test_a_change_made_on_another_replica_applies_once_the_cache_time_has_passed(
    world: World,
) -> None:
    clock = FrozenClock()
    world.clock = clock
    world.start_adapter(config_cache_seconds=5)
    world.put_connection()
    assert world.login().landed
    # Another replica's admin API closes channel 1 to this connection: this replica does
    # not hear of it, and keeps what it loaded for at most five seconds.
    table = Connection.__table__
    with world.engine.begin() as db:
        settings = db.scalar(sa.select(table.c.settings).where(table.c.slug == "okta"))
        db.execute(
            table.update()
            .where(table.c.slug == "okta")
            .values(settings={**settings, "channel_ids": [2]})
        )
    assert world.login().landed
    clock.advance(5)
    assert world.login().start.status_code == 403
