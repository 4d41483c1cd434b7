"""Prediction with a run folder trained on the shared FFHQ data: function, CLI, bad files,
bad runs. The run's model is :func:`tests.conftest.known_cnn`, whose P(Real) is a known
function of brightness, so the numbers checked here hold on any CPU.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import settings
from core.evaluation import scoring
from core.runs import run_folders
from core.serving import predict
from tests.conftest import known_p_real

CLI = [sys.executable, "-m", "core.serving.predict"]


@pytest.fixture(scope="module")
def model(trained_run):
    return scoring.load_model(trained_run)


@pytest.fixture(scope="module")
def test_images(ffhq) -> list[Path]:
    return [
        ffhq / "Test" / "Real" / "real_330.jpg",
        ffhq / "Test" / "Real" / "real_331.jpg",
        ffhq / "Test" / "Fake" / sorted(p.name for p in (ffhq / "Test" / "Fake").iterdir())[0],
    ]


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=settings.REPO_ROOT,
        timeout=180,
    )


def test_probabilities_on_real_images(model, trained_run, test_images):
    results = predict.classify_images(trained_run, test_images)
    assert [result.source for result in results] == [str(path) for path in test_images]
    for result in results:
        assert result.ok, result.error
        assert 0.0 <= result.p_real <= 1.0
        assert result.label in ("Real", "Fake")
        expected = result.p_real if result.label == "Real" else 1 - result.p_real
        assert result.probability == pytest.approx(expected)
        assert result.pixels.shape == (48, 48, 3)


@pytest.mark.parametrize("grey", [0, 40, 100, 127, 160, 220, 255])
def test_known_model_gives_its_known_probability(trained_run, grey, tmp_path):
    path = tmp_path / f"grey_{grey}.png"
    Image.new("RGB", (64, 80), (grey, grey, grey)).save(path)
    (result,) = predict.classify_images(trained_run, [path])
    assert result.ok, result.error
    assert result.p_real == pytest.approx(known_p_real(grey), abs=1e-4)
    assert result.label == ("Real" if known_p_real(grey) >= 0.5 else "Fake")


def test_predict_p_real_matches_batch_and_single(model, test_images):
    from core.data import images

    pixels = np.stack([images.load(path, 48) for path in test_images])
    batch = scoring.predict_p_real(model, pixels)
    single = [scoring.predict_p_real(model, image)[0] for image in pixels]
    assert batch.shape == (3,)
    np.testing.assert_allclose(batch, single, atol=1e-5)
    # Large batches take the model.predict path; same numbers.
    many = scoring.predict_p_real(model, np.repeat(pixels, 30, axis=0), batch_size=16)
    np.testing.assert_allclose(many[::30], batch, atol=1e-5)


@pytest.mark.slow
def test_cli_agrees_with_function_and_survives_a_bad_file(trained_run, test_images, tmp_path):
    bad = tmp_path / "not_a_photo.jpg"
    bad.write_text("not an image")
    files = [test_images[0], bad, test_images[2]]
    process = run_cli("--run", trained_run, *files)
    assert process.returncode == 1, process.stderr
    lines = process.stdout.strip().splitlines()
    assert len(lines) == 3
    expected = predict.classify_images(trained_run, files)
    for line, result in zip(lines, expected, strict=True):
        fields = line.split("\t")
        assert fields[0] == result.source
        if result.ok:
            assert fields[1] == result.label
            assert float(fields[2]) == pytest.approx(result.probability, abs=1e-4)
        else:
            assert fields[1] == "ERROR"
            assert "not an image we can read" in fields[2]


def test_batch_with_bad_files_classifies_the_good_ones(model, test_images, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    sources = [test_images[0], empty, ("upload.png", b"\x89PNG\r\n\x1a\nbroken"), test_images[1]]
    results = predict.classify_images(model, sources, image_size=48)
    assert [result.ok for result in results] == [True, False, False, True]
    assert "empty" in results[1].error
    assert results[2].source == "upload.png"
    assert results[2].error.endswith(".")


def test_threshold_decides_and_is_recorded(model, test_images):
    p_real = predict.classify_images(model, test_images[:1], image_size=48)[0].p_real
    above = predict.classify_images(model, test_images[:1], threshold=p_real, image_size=48)[0]
    below = predict.classify_images(
        model, test_images[:1], threshold=min(1.0, p_real + 1e-6), image_size=48
    )[0]
    assert above.label == "Real" and above.threshold == p_real  # P(Real) >= threshold
    assert below.label == "Fake"
    assert below.probability == pytest.approx(1 - p_real)


def test_eer_threshold_read_from_metrics(trained_run):
    metrics = run_folders.read_json(trained_run / "metrics.json")
    value = predict.eer_threshold(metrics)
    assert value is not None and 0.0 <= value <= 1.0
    assert predict.eer_threshold({"eer_threshold": None}) is None
    assert predict.eer_threshold(None) is None


def test_face_crop_notes(model, test_images):
    face = np.asarray(Image.open(test_images[0]).convert("RGB").resize((120, 120)))
    canvas = np.full((360, 480, 3), 90, dtype=np.uint8)
    canvas[200:320, 300:420] = face
    plain = np.full((200, 200, 3), 128, dtype=np.uint8)

    def as_bytes(pixels: np.ndarray) -> bytes:
        import io

        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        return buffer.getvalue()

    results = predict.classify_images(
        model,
        [("holiday.png", as_bytes(canvas)), ("wall.png", as_bytes(plain))],
        face_crop=True,
        image_size=48,
    )
    assert all(result.ok for result in results)
    x, y, side, _ = results[0].face_box
    assert 200 <= x + side / 2 <= 420 and 200 <= y + side / 2 <= 320
    assert any("Face crop used" in note for note in results[0].notes)
    assert results[1].face_box is None
    assert any("No face found" in note for note in results[1].notes)


def test_missing_and_corrupt_model_reported(trained_run, tmp_path, test_images):
    missing = tmp_path / "cnn_missing"
    shutil.copytree(trained_run, missing)
    (missing / "model.keras").unlink()
    with pytest.raises(run_folders.RunError, match=r"has no model\.keras"):
        scoring.load_model(missing)

    corrupt = tmp_path / "cnn_corrupt"
    shutil.copytree(trained_run, corrupt)
    (corrupt / "model.keras").write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(run_folders.RunError, match=r"model\.keras is damaged"):
        scoring.load_model(corrupt)

    truncated = tmp_path / "cnn_truncated"
    shutil.copytree(trained_run, truncated)
    data = (trained_run / "model.keras").read_bytes()
    (truncated / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(run_folders.RunError, match=r"could not be loaded|damaged"):
        scoring.load_model(truncated)

    process = run_cli("--run", missing, test_images[0])
    assert process.returncode == 2
    assert "has no model.keras" in process.stderr


def test_the_session_run_trains_in_its_own_artifacts_folder(trained_run, trained_run_artifacts):
    """Not in the repository's artifacts/, where the app would take its speed for the user's."""
    records = trained_run_artifacts / "throughput.json"
    entries = [e for machine in json.loads(records.read_text()).values() for e in machine]
    assert entries and {e["precision"] for e in entries} == {"float32"}  # the rate's precision
