"""``auto`` precision: bfloat16 only where it was timed faster than float32 here."""

from __future__ import annotations

import math

import pytest

from core import settings
from core.training import precision

BF16_CPU = "processor : 0\nflags : fpu sse2 avx512f avx512_bf16\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPFAKE_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_auto_trusts_the_flag_only_when_bfloat16_was_timed_faster(monkeypatch):
    """An AVX512-BF16 flag whose bfloat16 kernels are slower (an Intel Xeon without AMX)."""
    monkeypatch.setenv(settings.PRECISION_ENV, "auto")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    choose = settings.training_precision
    assert choose(False, BF16_CPU, time_bfloat16=lambda: (True, "")) == "mixed_bfloat16"
    assert choose(False, BF16_CPU, time_bfloat16=lambda: (False, "")) == "float32"

    def never() -> tuple[bool, str]:
        raise AssertionError("timed although the CPU has no bfloat16")

    assert choose(False, "flags : fpu avx2\n", time_bfloat16=never) == "float32"
    assert choose(True, BF16_CPU, time_bfloat16=never) == "float32"
    monkeypatch.setenv(settings.PRECISION_ENV, "mixed_bfloat16")  # asked for: never timed
    assert choose(False, BF16_CPU, time_bfloat16=never) == "mixed_bfloat16"


def test_the_speedup_is_measured_once_per_machine(cache, monkeypatch):
    calls = []
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    monkeypatch.setattr(precision, "measure_speedup", lambda: calls.append(1) or 1.8)
    assert precision.bfloat16_speedup() == 1.8 and precision.bfloat16_timing()[0]
    assert precision.bfloat16_speedup() == 1.8 and len(calls) == 1
    assert precision.cache_file().parent == cache
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert precision.bfloat16_speedup() == 1.8 and len(calls) == 2  # another setting: timed again


def test_a_failed_measurement_means_float32_and_is_not_cached(cache, monkeypatch):
    def broken() -> float:
        raise RuntimeError("no bfloat16 kernel registered")

    monkeypatch.setattr(precision, "measure_speedup", broken)
    assert precision.bfloat16_speedup() == 0.0
    assert precision.bfloat16_timing() == (False, "timing bfloat16 failed")
    assert not precision.cache_file().exists()


def test_measure_speedup_times_both_precisions():
    speedup = precision.measure_speedup(shape=(2, 4, 4, 16), repeats=2)
    assert math.isfinite(speedup) and speedup > 0


def test_the_reason_says_where_the_precision_came_from(cache, monkeypatch):
    """The precision and its reason come from one decision, so they cannot disagree."""

    def choose(default: str, has_gpu: bool = False, cpuinfo: str = BF16_CPU):
        return settings.choose_precision(
            has_gpu, cpuinfo, default, time_bfloat16=precision.bfloat16_timing
        )

    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    monkeypatch.delenv(settings.PRECISION_ENV, raising=False)
    assert choose("float32") == ("float32", "the model's default")
    monkeypatch.setenv(settings.PRECISION_ENV, "mixed_bfloat16")
    assert choose("auto") == ("mixed_bfloat16", f"set by {settings.PRECISION_ENV}")
    monkeypatch.setenv(settings.PRECISION_ENV, "auto")
    assert choose("auto", has_gpu=True) == ("float32", "auto: float32 on a GPU")
    plain = choose("auto", cpuinfo="flags : avx2\n")
    assert plain.precision == "float32" and "no native bfloat16" in plain.reason
    monkeypatch.setattr(precision, "measure_speedup", lambda: 0.74)
    assert choose("auto") == (
        "float32",
        "auto: bfloat16 timed 0.74x float32's speed on this machine",
    )
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    off = choose("auto")
    assert off.precision == "float32" and "oneDNN is off" in off.reason
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    monkeypatch.setattr(precision, "measure_speedup", lambda: 1.6)
    precision.cache_file().unlink()
    assert choose("auto") == (
        "mixed_bfloat16",
        "auto: bfloat16 timed 1.60x float32's speed on this machine",
    )


def test_the_status_line_gives_the_precision_and_why():
    from ui.train_view import precision_text

    assert precision_text({}) == ""
    assert precision_text({"training_precision": "float32"}) == " · computing in float32"
    status = {"training_precision": "float32", "precision_reason": "auto: bfloat16 timed 0.74x"}
    assert precision_text(status) == " · computing in float32 (auto: bfloat16 timed 0.74x)"
