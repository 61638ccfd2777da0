"""Fixtures of the model-layer tests: a fresh rhom data folder per test, real SQLite files.

``product`` runs a test four times: fixed schema and property bag, synced and local
(rhom-api §12). The narrower fixtures (``sync_product``, ``local_product``,
``fixed_product``, ``bag_product``) pick the layouts a behaviour applies to.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rhom

from .models import (
    ALL_MODELS,
    BAG_PRODUCTS,
    FIXED_PRODUCTS,
    LOCAL_PRODUCTS,
    PRODUCTS,
    SYNC_PRODUCTS,
    model_id,
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def rhom_setup(data_dir: Path) -> Iterator[Path]:
    """``rhom.setup`` on a new folder with every test model; ``rhom.shutdown`` afterwards."""
    rhom.setup(data_dir, models=ALL_MODELS)
    yield data_dir
    rhom.shutdown()


def _model(request: pytest.FixtureRequest) -> Any:
    request.getfixturevalue("rhom_setup")
    return request.param


@pytest.fixture(params=PRODUCTS, ids=model_id)
def product(request: pytest.FixtureRequest) -> Any:
    """Each of the four product layouts, set up."""
    return _model(request)


@pytest.fixture(params=SYNC_PRODUCTS, ids=model_id)
def sync_product(request: pytest.FixtureRequest) -> Any:
    return _model(request)


@pytest.fixture(params=LOCAL_PRODUCTS, ids=model_id)
def local_product(request: pytest.FixtureRequest) -> Any:
    return _model(request)


@pytest.fixture(params=FIXED_PRODUCTS, ids=model_id)
def fixed_product(request: pytest.FixtureRequest) -> Any:
    return _model(request)


@pytest.fixture(params=BAG_PRODUCTS, ids=model_id)
def bag_product(request: pytest.FixtureRequest) -> Any:
    return _model(request)
