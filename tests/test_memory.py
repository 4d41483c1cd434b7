"""The peak-memory estimate (issue 10.2): its structure, its profiles, the Train page's refusal.

No test compares the estimate with a measurement: those differ between machines
(bench/memory_bench.py measures and docs/BENCHMARKS.md records them).
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from core import settings
from core.models import registry
from core.training import memory

pytestmark = pytest.mark.demo

APP = str(settings.REPO_ROOT / "streamlit_app.py")
GB = memory.GB
#: A model profile with round numbers: 1M parameters, 1 MB of activations per image at 128 px.
PROFILE = memory.Profile(parameters=1_000_000, coefficients=(1e6 / 128**2, 0.0, 0.0))


def test_activations_grow_linearly_with_the_batch_and_the_rest_does_not_care():
    one = memory.estimate(PROFILE, 128, 8)
    two = memory.estimate(PROFILE, 128, 16)
    assert two.activations == pytest.approx(2 * one.activations)
    assert two.pipeline == pytest.approx(2 * one.pipeline)
    assert two.parameters == one.parameters == memory.PARAM_BYTES * 1_000_000
    assert two.baseline == one.baseline == memory.BASELINE_BYTES
    assert one.activations == pytest.approx(memory.ACTIVATION_FACTOR * 8 * 1e6)
    assert one.total == pytest.approx(
        one.baseline + one.parameters + one.activations + one.pipeline
    )


def test_estimate_grows_with_image_size_and_batch():
    for batch in (1, 8, 32):
        by_size = [memory.estimate(PROFILE, size, batch).total for size in (64, 128, 256, 512)]
        assert by_size == sorted(by_size) and len(set(by_size)) == 4
    for size in (64, 256):
        by_batch = [memory.estimate(PROFILE, size, batch).total for batch in (1, 8, 32, 128)]
        assert by_batch == sorted(by_batch) and len(set(by_batch)) == 4
    # pixels quadruple from 128 to 256 px, so do the conv activations and the pipeline
    small, large = memory.estimate(PROFILE, 128, 8), memory.estimate(PROFILE, 256, 8)
    assert large.activations == pytest.approx(4 * small.activations)
    assert large.pipeline == pytest.approx(4 * small.pipeline)


def test_fits_keeps_a_margin_and_the_largest_batch_is_the_last_that_fits():
    assert memory.fits(8 * GB, 10 * GB) and not memory.fits(9 * GB, 10 * GB)
    available = memory.estimate(PROFILE, 128, 40).total / memory.SAFETY
    batch = memory.largest_batch_that_fits(PROFILE, 128, available)
    assert batch == 40
    assert memory.fits(memory.estimate(PROFILE, 128, batch), available)
    assert not memory.fits(memory.estimate(PROFILE, 128, batch + 1), available)
    assert memory.largest_batch_that_fits(PROFILE, 128, 0.5 * GB) is None


def test_quadratic_fit_recovers_a_known_curve():
    a, b, c = 3.0, -7.0, 11.0
    points = [(s, a * s * s + b * s + c) for s in memory.profile_sizes(71)]
    assert memory.fit_quadratic(points) == pytest.approx((a, b, c))
    assert memory.profile_sizes(71) == (128, 192, 256)
    assert memory.profile_sizes(299) == (299, 448, 598)


def test_layer_outputs_are_counted_once_nested_models_included():
    import keras

    inner_input = keras.Input((8, 8, 4))
    inner = keras.Model(inner_input, keras.layers.Conv2D(2, 1)(inner_input), name="inner")
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 8*8*4 = 256
    x = inner(x)  # its Input (256) + its conv (8*8*2 = 128), not its output again
    x = keras.layers.GlobalAveragePooling2D()(x)  # 2
    outputs = keras.layers.Dense(1)(x)  # 1
    model = keras.Model(inputs, outputs)
    assert memory.layer_output_elements(model) == 192 + 256 + 256 + 128 + 2 + 1


def test_profiles_are_cached_per_model_and_options(monkeypatch, tmp_path):
    monkeypatch.setenv(memory.CACHE_ENV, str(tmp_path))
    options = registry.get_spec("cnn").resolve_options({})
    key = memory.profile_key("cnn", options)
    assert key != memory.profile_key("cnn", {**options, "widths": (8, 16, 32)})
    memory._store(key, PROFILE)
    assert json.loads(memory.cache_path().read_text())[key]["parameters"] == 1_000_000

    def no_subprocess(*_, **__):
        raise AssertionError("a cached profile must not build the model again")

    monkeypatch.setattr(memory.subprocess, "run", no_subprocess)
    assert memory.profile_for("cnn", options) == PROFILE


@pytest.mark.slow
def test_a_profile_is_built_in_a_subprocess(monkeypatch, tmp_path):
    monkeypatch.setenv(memory.CACHE_ENV, str(tmp_path))
    options = registry.get_spec("cnn").resolve_options({"widths": "8,16,32"})
    found = memory.profile_for("cnn", options)
    assert found.parameters > 0 and found.activation_bytes(256) > found.activation_bytes(128) > 0
    assert memory.cached_profile("cnn", options) == found


def test_a_failed_build_is_an_estimate_error(monkeypatch, tmp_path):
    monkeypatch.setenv(memory.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(memory.sys, "executable", "/bin/false")
    with pytest.raises(memory.EstimateError, match="building cnn failed"):
        memory.profile_for("cnn", {})


def open_train_page(monkeypatch, tiny_dataset, available: float) -> AppTest:
    monkeypatch.setattr(memory, "profiles_for", lambda models: [PROFILE] * len(models))
    monkeypatch.setattr(memory, "available_bytes", lambda: int(available))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.text_input(key="app_data_dir").set_value(str(tiny_dataset)).run()
    at.switch_page("app_pages/train.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_train_page_shows_the_estimate(monkeypatch, tiny_dataset):
    at = open_train_page(monkeypatch, tiny_dataset, available=64 * GB)
    expected = memory.estimate(PROFILE, at.number_input(key="train_image_size").value, 32)
    captions = " ".join(caption.value for caption in at.caption)
    assert f"Peak memory ≈ {expected.total / GB:.1f} GB of 64.0 GB available" in captions
    assert not at.button(key="train_start").disabled


def test_train_page_refuses_what_cannot_fit_and_names_a_batch_size(monkeypatch, tiny_dataset):
    size = registry.get_spec("cnn").default_image_size
    available = memory.estimate(PROFILE, size, 8).total / memory.SAFETY + 1000
    at = open_train_page(monkeypatch, tiny_dataset, available=available)
    at.number_input(key="train_batch_size").set_value(32).run()
    refusals = [error.value for error in at.error if error.value.startswith("This needs about")]
    assert len(refusals) == 1, [error.value for error in at.error]
    assert refusals[0].endswith("; batch size 8 would fit.")
    assert at.button(key="train_start").disabled
    at.number_input(key="train_batch_size").set_value(8).run()
    assert not any(error.value.startswith("This needs about") for error in at.error)
    assert not at.button(key="train_start").disabled
