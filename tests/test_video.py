"""Video clips: reading sampled frames, bad files, the clip's verdict and the per-frame table."""

from __future__ import annotations

import numpy as np
import pytest

from core.runs.run_folders import Run
from core.serving import classify, clips, predict, verdict, video
from tests import video_clips
from tests.conftest import known_cnn


@pytest.fixture(scope="module")
def judge(tmp_path_factory) -> clips.ShellJudge:
    """The known-weights CNN (bright: Real, dark: Fake) as a loaded run, no metrics."""
    folder = tmp_path_factory.mktemp("run") / "cnn_20250101-000000"
    run = Run(path=folder, name=folder.name, state="finished")
    return clips.ShellJudge(run, known_cnn(48), 48, 0.5)


# --- reading --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".avi", ".mkv"])
def test_frames_are_sampled_at_the_rate(tmp_path, suffix):
    path = video_clips.grey_clip(tmp_path / f"clip{suffix}", levels=(40, 120, 200, 250))
    with video.open_clip(path) as clip:
        assert clip.info.frame_count == 40 and clip.info.fps == pytest.approx(10)
        frames = list(clip.frames(rate=2.0, max_frames=100))
    assert [frame.index for frame in frames] == list(range(0, 40, 5))
    assert [frame.time for frame in frames] == pytest.approx([i / 2 for i in range(8)])
    assert clip.planned == 8 and not clip.notes


def test_far_samples_are_reached_by_seeking_and_are_the_right_frames(tmp_path):
    levels = (30, 90, 150, 210)
    path = video_clips.grey_clip(tmp_path / "seek.mp4", levels=levels, fps=30.0)
    with video.open_clip(path) as clip:
        frames = list(clip.frames(rate=0.5, max_frames=100))  # every 60 frames: seeks
    assert [frame.index for frame in frames] == [0, 60]
    for frame, level in zip(frames, levels[::2], strict=True):
        assert abs(float(frame.pixels.mean()) - level) < 8
        assert frame.pixels.shape == (64, 64, 3) and frame.pixels.dtype == np.uint8


def test_a_clip_whose_header_gives_no_length_is_sampled_by_timestamp(tmp_path):
    path = video_clips.grey_clip(tmp_path / "stream.mkv", levels=(40, 120, 200))
    with video.open_clip(path) as clip:
        clip.info = video.ClipInfo(clip.info.fps, 0, clip.info.width, clip.info.height)
        frames = list(clip.frames(rate=2.0, max_frames=4))
    assert clip.planned is None and len(frames) == 4
    assert [round(frame.time, 1) for frame in frames] == [0.0, 0.5, 1.0, 1.5]
    assert "cap of 4 frames" in clip.notes[-1]


def test_a_long_clip_is_spread_over_the_cap_and_says_so(tmp_path):
    path = video_clips.grey_clip(tmp_path / "long.avi", levels=(40, 200) * 3)
    with video.open_clip(path) as clip:
        frames = list(clip.frames(rate=10.0, max_frames=5))
    assert len(frames) == 5 and frames[0].index == 0 and frames[-1].index == 59
    assert "5 frames sampled, one every 1.2 s" in clip.notes[0]


def test_a_truncated_avi_gives_the_frames_before_the_cut_and_a_note(tmp_path):
    whole = video_clips.face_clip(tmp_path / "whole.avi", count=4)
    cut = video_clips.truncated(tmp_path / "cut.avi", whole, keep=0.5)
    with video.open_clip(cut) as clip:
        frames = list(clip.frames(rate=2.0, max_frames=100))
    assert 0 < len(frames) < 8
    assert any("truncated or damaged" in note for note in clip.notes)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda d: (d / "notes.mp4").write_text("not a video at all") and d / "notes.mp4",
            "not a video",
        ),
        (lambda d: video_clips.audio_only(d / "song.mp4"), "only sound"),
        (lambda d: (d / "empty.webm").write_bytes(b"") or d / "empty.webm", "empty"),
        (
            lambda d: video_clips.truncated(
                d / "cut.mp4", video_clips.face_clip(d / "whole.mp4", count=2)
            ),
            "damaged or truncated",
        ),
    ],
    ids=["text-as-mp4", "audio-only", "empty", "truncated-mp4"],
)
def test_bad_files_get_one_sentence(tmp_path, judge, make, expected):
    scores = clips.score_clip([judge], make(tmp_path))
    assert scores.error is not None and expected in scores.error
    assert scores.error.count(". ") == 0 and not scores.frames
    assert clips.clip_verdicts(scores, [judge]) == []


def test_an_mp4_with_only_a_sound_track_is_told_from_a_damaged_one(tmp_path, judge):
    whole = video_clips.face_clip(tmp_path / "whole.mp4", count=1)
    assert video._mp4_tracks(whole) == {b"vide"}
    box = b"\x00\x00\x00\x21hdlr" + b"\x00" * 8 + b"soun" + b"\x00" * 13
    sound = tmp_path / "sound.mp4"
    sound.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + box)
    assert "only sound" in clips.score_clip([judge], sound).error


def test_a_clip_over_the_length_limit_says_how_to_raise_it(tmp_path, judge, monkeypatch):
    path = video_clips.grey_clip(tmp_path / "long.mp4", levels=(40, 200) * 2)  # 4 s
    monkeypatch.setenv(video.MAX_MINUTES_ENV, str(3 / 60))
    assert video.max_clip_seconds() == pytest.approx(3)
    scores = clips.score_clip([judge], path)
    assert "above the limit of" in scores.error and video.MAX_MINUTES_ENV in scores.error
    monkeypatch.setenv(video.MAX_MINUTES_ENV, str(5 / 60))
    assert "above the limit" not in (clips.score_clip([judge], path).error or "")


def test_frames_over_the_pixel_limit_are_refused(tmp_path, judge):
    path = video_clips.grey_clip(tmp_path / "big.mp4", side=64)
    scores = clips.score_clip([judge], path, max_pixels=64 * 63)
    assert "64x64 pixels, above the limit of 4,032 pixels" in scores.error
    assert (
        "above the limit"
        in clips.score_clip([judge], ("big.mp4", path.read_bytes()), max_bytes=100).error
    )


def test_a_clip_without_a_face_has_no_verdict(tmp_path, judge):
    scores = clips.score_clip([judge], video_clips.grey_clip(tmp_path / "grey.mp4"))
    assert len(scores.frames) == 4 and scores.face_frames == 0
    assert scores.error.startswith("No face was found in any of the 4 frames sampled")
    assert clips.clip_verdicts(scores, [judge]) == []


# --- scoring --------------------------------------------------------------------------


def test_frames_are_scored_like_uploaded_images_with_the_face_crop(tmp_path, judge):
    path = video_clips.face_clip(tmp_path / "faces.mp4", count=3)
    seen = []
    scores = clips.score_clip([judge], path, rate=1.0, on_progress=seen.append)
    assert scores.error is None and len(scores.frames) == 3 and scores.face_frames == 3
    assert seen[-1].scored == 3 and seen[-1].planned == 3 and "of 3 frames" in seen[-1].text
    # The same frame through the image path (Classify's "Crop to the face") scores the same.
    detector = classify.Detector(judge.run, judge.model, judge.image_size, 0.5, "slider")
    with video.open_clip(path) as clip:
        for frame, scored in zip(clip.frames(1.0, 100), scores.frames, strict=True):
            decoded = predict.images.DecodedImage(frame.pixels, (128, 128), "RGB", None)
            image = classify.classify_decoded([detector], "f", decoded, face_crop=True)
            assert image.face_box == scored.face_box
            assert image.runs[0].verdict.p_real == pytest.approx(
                float(clips.scoring.sigmoid(scored.logits[0])), abs=1e-5
            )


def test_the_most_fake_face_frames_are_kept_with_their_pixels(tmp_path, judge, monkeypatch):
    monkeypatch.setattr(clips, "TOP_FRAMES", 2)
    scores = clips.score_clip([judge], video_clips.face_clip(tmp_path / "f.mkv", count=4))
    kept = scores.top[0]
    assert len(kept) == 2 and kept[0].logit <= kept[1].logit
    others = [f.logits[0] for f in scores.frames if f.index not in {k.index for k in kept}]
    assert kept[1].logit <= min(others)
    assert kept[0].pixels.shape == (48, 48, 3)


def _scores(logits_and_faces: list[tuple[float, bool]]) -> clips.ClipScores:
    frames = [
        clips.FrameScore(i, i / 2, (0, 0, 10, 10) if face else None, [logit])
        for i, (logit, face) in enumerate(logits_and_faces)
    ]
    info = video.ClipInfo(2.0, len(frames), 64, 64)
    return clips.ClipScores("clip.mp4", ["cnn_20250101-000000"], info, frames)


def test_the_clip_verdict_is_the_mean_logit_of_the_face_frames(judge):
    # Face logits -4, 2, 2: mean 0, P(Real) 0.5 -> Uncertain; the no-face frame is left out.
    scores = _scores([(-4.0, True), (2.0, True), (2.0, True), (-10.0, False)])
    (one,) = clips.clip_verdicts(scores, [judge], band=0.1)
    assert one.verdict.p_real == pytest.approx(0.5) and one.label == verdict.UNCERTAIN
    assert (one.face_frames, one.fake_frames) == (3, 1)
    (shifted,) = clips.clip_verdicts(_scores([(-3.0, True), (-1.0, True)]), [judge], band=0.1)
    assert shifted.label == verdict.FAKE
    assert shifted.verdict.p_real == pytest.approx(1 / (1 + np.exp(2.0)))
    assert "mean logit over the frames with a face, 2 frames" in shifted.text


def test_a_run_that_did_not_learn_says_so(judge):
    chance = Run(
        judge.run.path, judge.run.name, "finished", metrics={"auc": 0.5, "auc_ci": [0.4, 0.6]}
    )
    stuck = clips.ShellJudge(chance, judge.model, 48, 0.5)
    (one,) = clips.clip_verdicts(_scores([(-3.0, True)]), [stuck])
    assert one.label == "did not learn" and "means nothing" in one.text
    assert clips.clip_record(_scores([(-3.0, True)]), one)["label"] == "did not learn"


def test_the_per_frame_table_has_a_row_per_frame_and_run(judge):
    scores = _scores([(-4.0, True), (3.0, False)])
    table = clips.frame_table(scores, [judge])
    assert list(table.columns) == list(clips.FRAME_COLUMNS)
    assert table["face_found"].tolist() == [True, False]
    assert table["verdict"].tolist() == [verdict.FAKE, verdict.REAL]
    assert table["face_box"].tolist() == ["0 0 10 10", ""]
    assert table["p_real"].iloc[0] == pytest.approx(1 / (1 + np.exp(4.0)))


# --- the shell and the report ---------------------------------------------------------


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A copy of the session's run, so that kept clip verdicts stay in this test."""
    import shutil

    return shutil.copytree(trained_run, tmp_path / trained_run.name)


def test_the_command_takes_images_and_clips_mixed(run_copy, tmp_path, capsys, ffhq):
    image = sorted((ffhq / "Test" / "Real").glob("*.jpg"))[0]
    clip = video_clips.face_clip(tmp_path / "faces.mp4", count=3)
    table = tmp_path / "frames.csv"
    argv = ["--run", str(run_copy), str(clip), str(image), "--frames", str(table), "--rate", "1"]
    assert predict.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{clip}\t") and "3 frames sampled, 3 with a face" in lines[0]
    assert lines[0].split("\t")[1] in ("Real", "Fake", "Uncertain", "did not learn")
    assert lines[1].startswith(f"{image}\t")
    import pandas as pd

    frames = pd.read_csv(table)
    assert len(frames) == 3 and frames["face_found"].all() and set(frames["clip"]) == {str(clip)}
    assert not (run_copy / "clips").exists()


def test_a_bad_clip_fails_alone_and_a_kept_verdict_reaches_the_report(run_copy, tmp_path, capsys):
    from core.evaluation import compare, report, report_tables
    from core.runs import run_folders

    bad = tmp_path / "song.mp4"
    video_clips.audio_only(bad)
    good = video_clips.face_clip(tmp_path / "faces.avi", count=2)
    assert predict.main(["--run", str(run_copy), str(bad), str(good), "--report"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0] == f"{bad}\tERROR\tThis file holds only sound, no video track; upload a video clip."
    )
    assert "2 frames sampled" in out[1] or "4 frames sampled" in out[1]
    record = compare.load_record(run_folders.load_run(run_copy))
    gathered = report.gather([record])
    assert gathered.clips["clip"].tolist() == ["faces.avi"]
    assert report_tables.CLIPS_TITLE in report.markdown_report(gathered)
    assert "faces.avi" in report.html_report(gathered)


def test_the_timeline_marks_frames_without_a_face_and_draws_the_band(judge):
    from core.serving import clip_figures

    table = clips.frame_table(_scores([(-4.0, True), (3.0, False), (1.0, True)]), [judge])
    figure = clip_figures.timeline(table, {judge.run.name: 0.5}, band=0.1)
    line, crosses = figure.data
    assert list(line.x) == [0.0, 1.0] and line.mode == "lines+markers"
    assert list(crosses.x) == [0.5] and crosses.marker.symbol == "x"
    assert "no face" in crosses.name
    (band,) = [s for s in figure.layout.shapes if s.type == "rect"]
    assert (band.y0, band.y1) == pytest.approx((0.4, 0.6))
    assert any(s.y0 == 0.5 and s.line.dash == "dash" for s in figure.layout.shapes)
