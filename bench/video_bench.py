"""Memory and time of a clip's verdict: a 10-second against a 10-minute 30 fps clip.

Run with ``nice -n 10 python -m bench.video_bench``. It writes two clips with OpenCV's
VideoWriter (``mp4v`` in ``.mp4``, 192x192, a different real FFHQ face every second)
into a temporary folder, then scores each in a fresh process (so that each peak is its
own) with an untrained CNN at 128 px (time and memory do not depend on the weights) via
:func:`core.serving.clips.score_clip`:

- the 10-second clip at the defaults (2 frames/s, cap 150): 20 frames;
- the 10-minute clip at the defaults: 150 frames spread over it (the cap);
- the 10-minute clip with the cap raised to 1,200 (2 frames/s over all of it).

Each process reports its peak resident memory (``ru_maxrss``, TensorFlow included) and
the time of ``score_clip`` alone (the model is built and warmed up first). Targets
(issue 23): the 10-minute clip's peak within 0.5 GB of the 10-second clip's, and time
per sampled frame that does not grow with the clip's length.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._record import record_section
from core import settings

FPS = 30
SIDE = 192
FACES = settings.REPO_ROOT.parent / "shared" / "data" / "ffhq-stylegan2" / "Dataset" / "Test"
CASES = (  # (clip, seconds, rate, max frames)
    ("10 s", 10, 2.0, 150),
    ("10 min", 600, 2.0, 150),
    ("10 min", 600, 2.0, 1200),
)


def cpu() -> str:
    """CPU model and the vector flags that matter for TensorFlow."""
    model, flags = "unknown CPU", []
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
        elif line.startswith("flags"):
            have = set(line.split(":", 1)[1].split())
            flags = [f for f in ("avx2", "avx512f", "amx_bf16") if f in have]
            break
    return f"{model} ({', '.join(flags) or 'no AVX2'})"


def write_clip(path: Path, seconds: int) -> float:
    """Write a ``seconds``-long 30 fps clip of real faces; the time it took."""
    import cv2
    from PIL import Image

    started = time.perf_counter()
    pictures = []
    for picture in sorted(FACES.glob("*/*.jpg"))[:60]:
        rgb = np.asarray(Image.open(picture).convert("RGB").resize((SIDE, SIDE)))
        pictures.append(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (SIDE, SIDE))
    for second in range(seconds):
        for _ in range(FPS):
            writer.write(pictures[second % len(pictures)])
    writer.release()
    return time.perf_counter() - started


def measure_one(path: Path, rate: float, max_frames: int) -> dict:
    """In this process: build the model, warm it up, score the clip; peak memory and time."""
    settings.enable_onednn()
    from core.models import registry
    from core.runs.run_folders import Run
    from core.serving import clips

    model = registry.build("cnn", image_size=128, augment=False)
    model.predict_on_batch(np.zeros((clips.SCORE_BATCH, 128, 128, 3), "float32"))
    judge = clips.ShellJudge(Run(path.parent, "cnn_bench", "finished"), model, 128, 0.5)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    scores = clips.score_clip([judge], path, rate=rate, max_frames=max_frames, max_seconds=3600)
    seconds = time.perf_counter() - started
    assert scores.error is None, scores.error
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "frames": len(scores.frames),
        "faces": scores.face_frames,
        "seconds": seconds,
        "peak_mb": peak,
        "before_mb": before,
    }


def run_case(path: Path, rate: float, max_frames: int) -> dict:
    command = [sys.executable, "-m", "bench.video_bench", "--one", str(path)]
    command += ["--rate", str(rate), "--max-frames", str(max_frames)]
    done = subprocess.run(
        command, cwd=settings.REPO_ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: list[tuple[str, int, float, int, dict]], written: dict) -> str:
    base = results[0][4]
    base_rate = base["seconds"] / base["frames"]
    lines = [
        "| clip | file MB | rate, cap | frames sampled (with a face) | score s | ms/frame "
        "| ms/frame vs 10 s | peak RSS MB | peak vs 10 s MB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, _, rate, cap, one in results:
        per = one["seconds"] / one["frames"]
        extra = one["peak_mb"] - base["peak_mb"]
        lines.append(
            f"| {label} | {written[label]:.1f} | {rate:g}/s, {cap} | {one['frames']} "
            f"({one['faces']}) | {one['seconds']:.1f} | {per * 1000:.0f} | "
            f"{per / base_rate:.2f} | {one['peak_mb']:.0f} | {extra:+.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", type=Path, help="(internal) score one clip in this process")
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--max-frames", type=int, default=150)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.rate, args.max_frames)))
        return
    with tempfile.TemporaryDirectory() as folder:
        paths, sizes, writing = {}, {}, {}
        for label, seconds, _, _ in CASES:
            if label not in paths:
                paths[label] = Path(folder) / f"clip_{seconds}s.mp4"
                writing[label] = write_clip(paths[label], seconds)
                sizes[label] = paths[label].stat().st_size / 2**20
        results = []
        for label, seconds, rate, cap in CASES:
            results.append((label, seconds, rate, cap, run_case(paths[label], rate, cap)))
            print(label, rate, cap, results[-1][4], flush=True)
    markdown = table(results, sizes)
    text = (
        "## Video clips: memory and time bounded by the sample\n\n"
        f"`python -m bench.video_bench`: {FPS} fps clips, {SIDE}x{SIDE} mp4v, a real FFHQ "
        "face per second, written with OpenCV's VideoWriter; each scored in its own process "
        "by an untrained CNN at 128 px (face crop per frame, batches of "
        "8). Peak RSS includes TensorFlow itself. CPU: "
        f"{cpu()}.\n\n{markdown}\n\n"
        f"Writing the clips took {writing['10 s']:.1f} s and {writing['10 min']:.1f} s. "
        "Frames far apart are reached by seeking, so the 10-minute clip costs about what "
        "its sample costs, not what its 18,000 frames would."
    )
    print(text)
    record_section("video", text)


if __name__ == "__main__":
    main()
