"""Training precision: the words, the CPU's bfloat16 check, and what a CPU without bfloat16 gets."""
from __future__ import annotations

import logging

import pytest
import torch

import sijscan.devices as devices
from sijscan.devices import DeviceError, PRECISIONS, training_precision


def test_words_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert PRECISIONS == ("auto", "32", "bf16")
    assert training_precision("auto", gpu=True) == "bf16-mixed"
    assert training_precision("auto", gpu=False) == "32-true"  # what sijscan always did on a CPU
    assert training_precision("32", gpu=True) == "32-true"
    assert training_precision("bf16", gpu=False) == "bf16-mixed"
    with pytest.raises(DeviceError, match="--precision must be one of auto, 32, bf16, got 'fp16'"):
        training_precision("fp16", gpu=False)


def test_bf16_on_a_cpu_without_bfloat16_trains_in_float32(monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    devices._log_bf16_fallback.cache_clear()
    with caplog.at_level(logging.WARNING, logger="sijscan.devices"):
        assert training_precision("bf16", gpu=False) == "32-true"
        assert training_precision("bf16", gpu=False) == "32-true"  # a study's next model: not said again
    assert caplog.text.count("no bfloat16 arithmetic") == 1
    assert training_precision("bf16", gpu=True) == "bf16-mixed"


def test_cpu_check_reads_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert devices.cpu_has_native_bf16() is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert devices.cpu_has_native_bf16() is True
