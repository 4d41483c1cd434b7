"""Fault injection: kill the trainer or the queue worker with SIGKILL at random moments
and check that the run bookkeeping never lies.

Trial ``i`` kills at moment ``i % 4`` the process ``i // 4 % 2`` (trainer, worker), at a
random instant within that moment. Each trial uses a fresh artifacts folder holding one
finished "bystander" run, queues two runs (the victim and the next one) on a tiny
generated dataset, starts the worker and, when the victim reaches the chosen moment,
SIGKILLs the chosen process:

- ``loading``: the trainer's phase is "loading data";
- ``mid-epoch``: it is training (a batch or an epoch done);
- ``saving``: it is evaluating and saving the model (phase "evaluating");
- ``after-metrics``: it has written metrics.json but not its final status. This
  window is held open by the fault-injection pause of :mod:`core.runs.run_folders`
  (``DEEPFAKE_FAULT_PAUSE_AFTER=metrics.json:<s>``, set only here), which touches
  ``metrics.json.paused`` and sleeps before the trainer goes on.

Then it plays the Training page (``training_queue.refresh_states()`` every 0.1 s) until nothing
is queued or running, and checks:

1. no run is shown finished without a complete model and metrics (metrics.json a
   readable record, model.keras a whole archive; real trainers' models are loaded);
2. no run is shown running without a live trainer (identified by pid and start
   time) for longer than 2 s (the worker notices a dead trainer within 0.25 s; a run
   the worker has just claimed, phase "starting", counts when the worker lives);
3. the queue goes on: the next run ends finished;
4. nothing in the bystander run folder changed;
5. the victim ends in a final state, and finished whenever it is complete.

Most trials use the fake trainer (``python -m tests.fake_trainer``, same files in
the same order as the real one, about 2 s a run); every fifth uses the real one.

Run: ``python -m bench.fault_injection [--trials 24] [--seed 0] [--real-every 5]``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import random
import signal
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from bench._record import record_section
from core import processes, settings
from core.jobs import training_queue
from core.runs import lifecycle, run_folders
from core.runs.config import TrainConfig

MOMENTS = ("loading", "mid-epoch", "saving", "after-metrics")
TARGETS = ("trainer", "worker")
PAUSE_S = 3.0
STALE_RUNNING_S = 2.0
SETTLE_S = {"fake": 60.0, "real": 300.0}
MOMENT_S = {"fake": 30.0, "real": 180.0}


def make_dataset(root: Path) -> Path:
    """A tiny dataset in the Kaggle layout: random 32 px JPEGs."""
    rng = np.random.default_rng(0)
    for split, count in (("Train", 16), ("Validation", 4), ("Test", 4)):
        for name in ("Real", "Fake"):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{name.lower()}_{i}.jpg")
    return root


def folder_digest(folder: Path) -> str:
    """Hash of every file's name and bytes under ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def make_bystander() -> Path:
    """A finished run that no trial may touch."""
    folder = run_folders.new_run_dir("cnn")
    run_folders.write_json(folder / "config.json", TrainConfig().to_dict())
    run_folders.set_status(folder, "finished", created=0.0)
    with zipfile.ZipFile(folder / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    run_folders.write_json(folder / "metrics.json", {"accuracy": 0.5})
    return folder


def complete_on_disk(run_dir: Path, real: bool) -> bool:
    """Independent check of a complete run (not core.runs.run_folders.is_complete)."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        with zipfile.ZipFile(run_dir / "model.keras") as archive:
            whole = "config.json" in archive.namelist() and archive.testzip() is None
    except (OSError, ValueError, zipfile.BadZipFile):
        return False
    if not (whole and isinstance(metrics, dict) and metrics):
        return False
    if real:
        from core.evaluation import scoring

        try:
            scoring.load_model(run_dir)
        except run_folders.RunError:
            return False
    return True


def at_moment(run_dir: Path, moment: str) -> bool:
    """True when the victim's trainer is at ``moment``."""
    if moment == "after-metrics":
        return (run_dir / "metrics.json.paused").exists()
    try:
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        return False
    if status.get("state") != "running" or not status.get("pid"):
        return False
    phase = status.get("phase")
    if moment == "loading":
        return phase == "loading data"
    if moment == "mid-epoch":
        done = (status.get("batch") or 0) >= 1 or (status.get("epoch") or 0) > 1
        return phase == "training" and done
    return phase == "evaluating"


def kill(target: str, victim: Path) -> bool:
    """SIGKILL the victim's trainer or the worker, only if identified; True if signalled."""
    if target == "worker":
        identity = training_queue.worker_identity()
        process = processes.process(*identity) if identity else None
    else:
        status = run_folders.load_run(victim).status
        process = processes.process(status.get("pid"), status.get("pid_started"))
    if process is None:
        return False
    os.kill(process.pid, signal.SIGKILL)
    return True


class Watcher:
    """Plays the Training page and records states and violations."""

    def __init__(self, real: bool) -> None:
        self.real = real
        self.violations: list[str] = []
        self.seen: dict[str, set[str]] = collections.defaultdict(set)
        self.stale_since: dict[str, float] = {}

    def look(self) -> list[run_folders.Run]:
        listed = training_queue.refresh_states()
        worker = training_queue.worker_identity()
        now = time.monotonic()
        for run in listed:
            self.seen[run.name].add(run.state)
            if run.state == "finished" and not complete_on_disk(run.path, real=False):
                self.violations.append(f"{run.name} shown finished but incomplete")
            if run.state != "running":
                self.stale_since.pop(run.name, None)
                continue
            status = run.status
            starting = (
                worker is not None
                and status.get("phase") == "starting"
                and processes.same_process(
                    status.get("worker_pid"), status.get("worker_started"), worker
                )
            )
            if lifecycle.trainer_alive(status) or starting:
                self.stale_since.pop(run.name, None)
            elif now - self.stale_since.setdefault(run.name, now) > STALE_RUNNING_S:
                self.violations.append(f"{run.name} shown running without a live trainer")
                self.stale_since[run.name] = float("inf")  # report once
        return listed


def trial(number: int, rng: random.Random, real: bool, dataset: Path, base: Path) -> dict:
    """One trial; returns what happened."""
    kind = "real" if real else "fake"
    # Every moment and target in turn; the instant within the moment is random.
    moment, target = MOMENTS[number % 4], TARGETS[(number // 4) % 2]
    os.environ[settings.ARTIFACTS_ENV] = str(base / f"trial{number:02d}")
    if moment == "after-metrics":
        os.environ[run_folders.PAUSE_ENV] = f"metrics.json:{PAUSE_S}"
    else:
        os.environ.pop(run_folders.PAUSE_ENV, None)
    if real:
        os.environ.pop(training_queue.TRAINER_ENV, None)
    else:
        os.environ[training_queue.TRAINER_ENV] = f"{sys.executable} -m tests.fake_trainer"
        os.environ["FAKE_PHASE_S"] = "0.4"
    bystander = make_bystander()
    before = folder_digest(bystander)
    config = TrainConfig(
        model="cnn",
        data_dir=str(dataset),
        image_size=32,
        epochs=3,
        batch_size=2,
        early_stopping_patience=3,
        augment=False,
        seed=number,
    )
    victim, following = training_queue.submit_many([config, config.replace(seed=number + 1000)])
    watcher = Watcher(real)
    deadline = time.monotonic() + MOMENT_S[kind]
    while not at_moment(victim, moment) and time.monotonic() < deadline:
        time.sleep(0.02)
    if at_moment(victim, moment):
        time.sleep(rng.uniform(0.0, 0.15))  # the fake trainer's phases last 0.4 s
    signalled = at_moment(victim, moment) and kill(target, victim)
    deadline = time.monotonic() + SETTLE_S[kind]
    while time.monotonic() < deadline:
        listed = watcher.look()
        if not any(run.state in training_queue.ACTIVE_STATES for run in listed):
            break
        time.sleep(0.1)
    else:
        watcher.violations.append("runs still queued or running at the deadline")
    end = {run.name: run for run in watcher.look()}
    problems = watcher.violations
    final = end[victim.name].state
    if final not in run_folders.FINAL_STATES:
        problems.append(f"victim ended {final}")
    if complete_on_disk(victim, real) != (final == "finished"):
        problems.append(f"victim {final} but complete on disk: {complete_on_disk(victim, real)}")
    if end[following.name].state != "finished" or not complete_on_disk(following, real):
        problems.append(f"next run ended {end[following.name].state}")
    if folder_digest(bystander) != before:
        problems.append("the bystander run folder changed")
    identity = training_queue.worker_identity()
    waited = time.monotonic() + 30
    while identity and processes.alive(*identity) and time.monotonic() < waited:
        time.sleep(0.1)
        identity = training_queue.worker_identity()
    return {
        "trainer": kind,
        "moment": moment,
        "target": target,
        "signalled": signalled,
        "victim": final,
        "seen": sorted(set().union(*watcher.seen.values())),
        "problems": problems,
    }


def table(results: list[dict]) -> str:
    """The markdown table of counts."""
    lines = [
        "| trainer | moment | killed | trials | signalled | victim ended | violations |",
        "|---|---|---|---:|---:|---|---:|",
    ]
    groups: dict[tuple, list[dict]] = collections.defaultdict(list)
    for result in results:
        groups[(result["trainer"], result["moment"], result["target"])].append(result)
    for (kind, moment, target), items in sorted(groups.items()):
        ended = collections.Counter(item["victim"] for item in items)
        lines.append(
            f"| {kind} | {moment} | {target} | {len(items)} | "
            f"{sum(item['signalled'] for item in items)} | "
            f"{', '.join(f'{state} {n}' for state, n in sorted(ended.items()))} | "
            f"{sum(len(item['problems']) for item in items)} |"
        )
    seen = sorted(set().union(*(set(result["seen"]) for result in results)))
    violations = sum(len(result["problems"]) for result in results)
    lines += [
        "",
        f"Trials: {len(results)}; killed at the chosen moment: "
        f"{sum(r['signalled'] for r in results)}; states seen: {', '.join(seen)}; "
        f"**violations: {violations}**.",
    ]
    return "\n".join(lines)


def cpu_line() -> str:
    """The CPU's model name and the flags that change TensorFlow's kernels."""
    try:
        info = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return "CPU: unknown"
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in info.splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    flags = set(
        next(
            (
                line.split(":", 1)[1].split()
                for line in info.splitlines()
                if line.startswith("flags")
            ),
            [],
        )
    )
    shown = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    return f"CPU: {model} ({', '.join(shown) or 'no AVX2'})"


def main(argv: list[str] | None = None) -> int:
    """Run the trials, print the table, record it in docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-every", type=int, default=5, help="every n-th trial is real")
    parser.add_argument("--no-record", action="store_true", help="do not write BENCHMARKS.md")
    args = parser.parse_args(argv)
    settings.enable_onednn()
    rng = random.Random(args.seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="fault-injection-") as temporary:
        base = Path(temporary)
        dataset = make_dataset(base / "data" / "Dataset")
        for number in range(args.trials):
            real = args.real_every > 0 and number % args.real_every == args.real_every - 1
            result = trial(number, rng, real, dataset, base)
            results.append(result)
            print(
                f"trial {number:2d} {result['trainer']:4s} {result['moment']:13s} "
                f"kill {result['target']:7s} signalled={result['signalled']!s:5s} "
                f"victim {result['victim']:11s} problems: {result['problems'] or 'none'}",
                flush=True,
            )
    text = table(results)
    print(text)
    if not args.no_record:
        record_section(
            "fault_injection",
            "## Fault injection (`python -m bench.fault_injection`)\n\n"
            "SIGKILL of the trainer or the worker at random moments; the invariants are listed\n"
            "in the script's docstring (never finished without a complete model and metrics,\n"
            "never running without a live trainer, the queue goes on, other run folders\n"
            f"untouched). Seed {args.seed}; every {args.real_every}th trial trains for real.\n"
            f"{cpu_line()}.\n\n" + text,
        )
    return 1 if any(result["problems"] for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
