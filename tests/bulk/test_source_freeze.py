"""``freezed`` set at run time (``set_source_property``), in a pull and in a bulk sync.

A frozen source keeps its declared attributes and drops the undeclared ones the server
sends, whichever way it was frozen: ``Meta.freezed``, the property as a flag (``True``,
``"true"``, ``"1"``) or the property as the comma list of accepted names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import rhom
from rhom.server import MemoryAdapter

from .conftest import World, values

GADGETS = {"g1": {"name": "Watch", "size": "40", "secret": "x"}, "g2": {"name": "Ring", "secret": "y"}}


def gadget_world(make_world: Callable[..., World], *, frozen: bool = False) -> tuple[World, Any]:
    class Gadget(rhom.PropertyBagModel, sync=True, freezed=frozen):
        name = rhom.CharField()
        size = rhom.CharField()

    world = make_world("bag", MemoryAdapter("Gadget", GADGETS), extra_models=[Gadget])
    return world, Gadget


def synced(world: World, *, bulk: bool, **properties: Any) -> Any:
    client = world.client()
    for name, value in properties.items():
        client.set_source_property("Gadget", name, value)
    if bulk:
        client.bulksync_state = 0
    result = client.do_sync()
    assert result.ok, result
    return client


DECLARED_ONLY = {"g1": {"name": "Watch", "size": "40"}, "g2": {"name": "Ring"}}


@pytest.mark.parametrize("bulk", [False, True], ids=["pull", "bulk"])
@pytest.mark.parametrize("flag", [True, "true", "1", "YES"])
def test_a_flag_freezes_the_source_to_its_declared_attributes(
    make_world: Callable[..., World], flag: Any, bulk: bool
) -> None:
    world, gadget = gadget_world(make_world)
    synced(world, bulk=bulk, freezed=flag)
    assert values(gadget) == DECLARED_ONLY


@pytest.mark.parametrize("bulk", [False, True], ids=["pull", "bulk"])
def test_an_open_source_takes_every_attribute(make_world: Callable[..., World], bulk: bool) -> None:
    world, gadget = gadget_world(make_world)
    synced(world, bulk=bulk)
    assert values(gadget) == GADGETS


@pytest.mark.parametrize("bulk", [False, True], ids=["pull", "bulk"])
def test_false_opens_a_source_frozen_by_its_meta(make_world: Callable[..., World], bulk: bool) -> None:
    world, gadget = gadget_world(make_world, frozen=True)
    synced(world, bulk=bulk, freezed="false")
    assert values(gadget) == GADGETS


def test_a_list_names_the_accepted_attributes(make_world: Callable[..., World]) -> None:
    world, gadget = gadget_world(make_world)
    synced(world, bulk=False, freezed="name, secret")
    assert values(gadget) == {"g1": {"name": "Watch", "secret": "x"}, "g2": {"name": "Ring", "secret": "y"}}


@pytest.mark.parametrize("flag", [None, "false", "true"])
def test_a_fixed_schema_source_keeps_its_columns_whatever_the_flag(
    make_world: Callable[..., World], flag: str | None
) -> None:
    class Gadget(rhom.Model, sync=True):
        name = rhom.CharField()
        size = rhom.CharField()

    world = make_world("fixed", MemoryAdapter("Gadget", GADGETS), extra_models=[Gadget])
    synced(world, bulk=False, **({} if flag is None else {"freezed": flag}))
    assert values(Gadget) == DECLARED_ONLY


def test_a_list_on_a_fixed_schema_source_narrows_its_columns(make_world: Callable[..., World]) -> None:
    class Gadget(rhom.Model, sync=True):
        name = rhom.CharField()
        size = rhom.CharField()

    world = make_world("fixed", MemoryAdapter("Gadget", GADGETS), extra_models=[Gadget])
    synced(world, bulk=False, freezed="name,secret")
    assert values(Gadget) == {"g1": {"name": "Watch"}, "g2": {"name": "Ring"}}
