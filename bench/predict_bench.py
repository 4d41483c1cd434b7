"""Latency of a verdict: image bytes in, Real/Fake out, per model at 128 px; with Grad-CAM.

Run with ``python -m bench.predict_bench``. For each model it builds an untrained
model at 128 px (latency does not depend on the weights' values), saves it as a run
folder in a temporary artifacts folder, then measures:

- cold: loading ``model.keras`` (safe mode) plus the first verdict, which includes
  Keras tracing its predict function; TensorFlow's own import is timed once, apart;
- warm verdict: median of 20 calls of :func:`core.serving.predict.classify_images` on the
  bytes of one real 256x256 JPEG (decode, resize, score, decide);
- warm verdict + Grad-CAM: the same plus :func:`core.serving.gradcam.compute_gradcam`.

Targets on a 2-core CPU: warm CNN < 100 ms, Xception < 300 ms, with Grad-CAM < 1 s.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench._record import record_section
from core import settings

IMAGE_SIZE = 128
REPEATS = 20
TARGETS_MS = {"cnn": 100, "capsnet": None, "xception": 300}
GRADCAM_TARGET_MS = 1000
SAMPLE = settings.REPO_ROOT.parent / "shared" / "data" / "ffhq-stylegan2" / "Dataset"


def sample_bytes() -> tuple[bytes, str]:
    """The bytes of one real test photo, or a generated JPEG when the shared data is absent."""
    folder = SAMPLE / "Test" / "Real"
    if folder.is_dir():
        path = sorted(folder.iterdir())[0]
        return path.read_bytes(), f"`{path.name}` (FFHQ, 256x256 JPEG)"
    pixels = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue(), "a generated 256x256 JPEG (shared data not found)"


def median_ms(function, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    settings.enable_onednn()
    started = time.perf_counter()
    import keras  # noqa: F401  (timed: the import every cold start pays once)

    import_s = time.perf_counter() - started

    from core.evaluation import scoring
    from core.models import registry
    from core.runs import run_folders
    from core.serving import gradcam, predict

    data, description = sample_bytes()
    source = [("sample.jpg", data)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="predict_bench_") as folder:
        for name in registry.list_models():
            run_dir = Path(folder) / "runs" / f"{name}_bench"
            run_dir.mkdir(parents=True)
            registry.build(name, image_size=IMAGE_SIZE, seed=0).save(run_dir / "model.keras")
            run_folders.write_json(
                run_dir / "config.json", {"model": name, "image_size": IMAGE_SIZE}
            )

            started = time.perf_counter()
            model = scoring.load_model(run_dir)
            load_s = time.perf_counter() - started
            first = predict.classify_images(model, source, image_size=IMAGE_SIZE)[0]
            cold_s = time.perf_counter() - started
            assert first.ok, first.error
            started = time.perf_counter()
            gradcam.compute_gradcam(model, first.pixels)
            cold_cam_s = time.perf_counter() - started

            def verdict(model=model):
                return predict.classify_images(model, source, image_size=IMAGE_SIZE)[0]

            def verdict_and_cam(model=model):
                result = verdict(model)
                return gradcam.compute_gradcam(model, result.pixels, target=result.label)

            warm = median_ms(verdict)
            warm_cam = median_ms(verdict_and_cam)
            layer = gradcam.compute_gradcam(model, first.pixels).layer
            rows.append((name, load_s, cold_s, cold_cam_s, warm, warm_cam, layer))
            print(f"{name}: cold {cold_s:.2f} s, warm {warm:.1f} ms, + Grad-CAM {warm_cam:.0f} ms")

    def verdict_cell(name: str, value: float) -> str:
        target = TARGETS_MS[name]
        if target is None:
            return f"{value:.1f}"
        return f"{value:.1f} ({'meets' if value < target else 'misses'} < {target})"

    lines = [
        f"Image bytes to verdict for one image at {IMAGE_SIZE} px, from {description}. "
        f"Medians of {REPEATS} warm calls. Models are **untrained** (random weights, built "
        "and saved by the benchmark): latency does not depend on the weights' values. "
        f"TensorFlow/Keras import, paid once per process before any cold start: "
        f"{import_s:.1f} s.",
        "",
        "| Model | Load model.keras (s) | Cold: load + first verdict (s) | "
        "First Grad-CAM (s) | Warm verdict (ms) | Warm verdict + Grad-CAM (ms) | "
        "Grad-CAM layer |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, load_s, cold_s, cold_cam_s, warm, warm_cam, layer in rows:
        cam_cell = (
            f"{warm_cam:.0f} ({'meets' if warm_cam < GRADCAM_TARGET_MS else 'misses'} "
            f"< {GRADCAM_TARGET_MS})"
        )
        lines.append(
            f"| {registry.display_name(name)} | {load_s:.2f} | {cold_s:.2f} | "
            f"{cold_cam_s:.2f} | {verdict_cell(name, warm)} | {cam_cell} | `{layer}` |"
        )
    lines += [
        "",
        "Warm verdicts call the model through `predict_on_batch` (the compiled predict step, "
        "no `model.predict` set-up per call); Grad-CAM runs eagerly (a gradient tape over "
        "one forward pass). The Classify page caches models per run and Grad-CAM maps per "
        "image, so moving the threshold slider costs only the warm verdict.",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    record_section("predict", markdown)


if __name__ == "__main__":
    main()
