"""The store's one translation of Redis outages, and its one script loader (no Redis needed)."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from livecart.errors import StoreUnavailable
from livecart.store.redis_client import as_store_unavailable, lua_source, store_error

OUTAGES = [RedisConnectionError("gone"), RedisTimeoutError("slow"), ConnectionResetError("reset"),
           OSError("no route"), TimeoutError("late")]


@pytest.mark.parametrize("outage", OUTAGES, ids=lambda e: type(e).__name__)
def test_an_outage_in_the_block_leaves_as_store_unavailable_caused_by_it(outage):
    with pytest.raises(StoreUnavailable) as caught, as_store_unavailable():
        raise outage
    assert caught.value.__cause__ is outage
    assert str(outage) in str(caught.value)


@pytest.mark.parametrize("error", [ResponseError("ERR bad script"), ValueError("bug"), KeyError("k")],
                         ids=lambda e: type(e).__name__)
def test_any_other_error_leaves_the_block_as_it_is(error):
    with pytest.raises(type(error)) as caught, as_store_unavailable():
        raise error
    assert caught.value is error


def test_a_block_that_completes_is_untouched():
    with as_store_unavailable():
        value = 1
    assert value == 1


def test_store_error_maps_an_outage_for_a_future_and_leaves_the_rest():
    outage = RedisConnectionError("gone")
    mapped = store_error(outage)
    assert isinstance(mapped, StoreUnavailable) and mapped.__cause__ is outage
    other = ResponseError("ERR")
    assert store_error(other) is other


def test_the_deal_scripts_get_lib_lua_prepended_and_the_others_do_not():
    lib = lua_source("lib.lua")
    claim = lua_source("claim.lua")
    assert lua_source("claim.lua", with_lib=True) == lib + "\n" + claim
    assert lua_source("append.lua").startswith("--") and lib not in lua_source("append.lua")


def test_bag_lua_and_goal_lua_share_bag_lib_lua_after_lib_lua():
    lib, bag_lib = lua_source("lib.lua"), lua_source("bag_lib.lua")
    for name in ("bag.lua", "goal.lua"):
        source = lua_source(name, with_lib=True, libs=("bag_lib.lua",))
        assert source == lib + "\n" + bag_lib + "\n" + lua_source(name)
        assert "local function bag_create(" not in lua_source(name)  # one copy, in bag_lib.lua
