"""rhom.signals is the one place for every signal an application subscribes to."""

from __future__ import annotations

import blinker

import rhom.signals
from rhom.sync import notify


def test_every_sync_signal_is_also_in_rhom_signals() -> None:
    sync_signals = {name for name, value in vars(notify).items() if isinstance(value, blinker.NamedSignal)}
    assert sync_signals, "rhom.sync.notify defines the engine's signals"
    for name in sync_signals:
        assert getattr(rhom.signals, name) is getattr(notify, name), f"rhom.signals.{name}"
        assert name in rhom.signals.__all__
