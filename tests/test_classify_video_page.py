"""AppTest of Classify with video clips and the camera (the run's CNN has fixed weights)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core import settings
from core.runs import clip_records
from core.serving import clips
from tests import video_clips
from tests.test_classify_page import open_page, set_record, verdicts
from ui import classify_video

pytestmark = pytest.mark.demo


@pytest.fixture
def with_run(trained_run, artifacts, ffhq, monkeypatch) -> Path:
    """The session's run (a CNN with fixed weights) in this test's artifacts; FFHQ as data.

    Its record says it learned, so the page picks it (see ``set_record``).
    """
    target = settings.runs_dir() / trained_run.name
    shutil.copytree(trained_run, target)
    monkeypatch.setenv(settings.DATA_ENV, str(ffhq))
    return set_record(target, learned=True)


def clip_verdicts(at) -> list[str]:
    return [md.value for md in at.markdown if md.value.startswith("### Clip: :")]


@pytest.fixture
def counted(monkeypatch) -> list[str]:
    """The names of the clips scored, in order (each call of ``clips.score_clip``)."""
    calls: list[str] = []
    original = clips.score_clip

    def counting(judges, source, **options):
        calls.append(source[0])
        return original(judges, source, **options)

    monkeypatch.setattr(clips, "score_clip", counting)
    return calls


def test_a_photo_from_the_camera_goes_the_image_way(with_run, ffhq):
    at = open_page()
    assert not at.get("camera_input")  # the camera opens only when asked for
    at.toggle(key="classify_camera_on").set_value(True).run()
    photo = sorted((ffhq / "Test" / "Real").glob("*.jpg"))[0].read_bytes()
    at.get("camera_input")[0].set_value(("shot.jpg", photo, "image/jpeg"))
    at.run()
    assert not at.exception, at.exception
    assert any(md.value.startswith("**camera photo.jpg**") for md in at.markdown)
    assert len(verdicts(at)) == 1


def test_a_clip_gets_a_verdict_a_timeline_and_its_most_fake_frames(with_run, tmp_path, counted):
    clip = video_clips.face_clip(tmp_path / "faces.mp4", count=3)
    at = open_page()
    at.get("file_uploader")[1].set_value(("faces.mp4", clip.read_bytes(), "video/mp4"))
    at.run()
    assert not at.exception, at.exception
    assert counted == ["faces.mp4"]
    (shown,) = clip_verdicts(at)
    assert any(label in shown for label in ("Real]", "Fake]", "Uncertain]", "did not learn]"))
    assert any("6 frames sampled, 6 with a face" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 1
    thumbs = [c for image in at.get("image") for c in image.captions if "· P(Real)" in c]
    assert len(thumbs) == clips.TOP_FRAMES
    assert at.get("download_button")
    # The threshold moves and a Grad-CAM map opens without scoring the clip again.
    at.slider(key="classify_threshold").set_value(0.9).run()
    cam_toggle = next(t for t in at.toggle if t.key.startswith("classify_clip_cam_"))
    cam_toggle.set_value(True).run()
    assert not at.exception, at.exception
    assert counted == ["faces.mp4"]
    captions = [c for image in at.get("image") for c in image.captions]
    cards = [i.value for i in at.info if "No evidence" in i.value or "stands out" in i.value]
    assert any(c.startswith("Grad-CAM of the last convolution block") for c in captions) or cards
    # Kept for the run's report only when asked.
    assert not clip_records.read(with_run)
    next(b for b in at.button if b.key.startswith("classify_clip_keep_")).click().run()
    (kept,) = clip_records.read(with_run)
    assert kept["clip"] == "faces.mp4" and kept["frames_with_face"] == 6


def test_a_bad_clip_gets_one_sentence_and_the_images_still_get_verdicts(with_run):
    at = open_page()
    at.button(key="classify_pick_samples").click().run()
    at.get("file_uploader")[1].set_value(("film.mp4", b"no video here", "video/mp4"))
    at.run()
    assert not at.exception, at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith("film.mp4: This file is not a video we can read")
    assert len(verdicts(at)) == 4 and not clip_verdicts(at)


def test_a_cancelled_clip_waits_for_score_it_again(with_run, tmp_path, counted):
    clip = video_clips.grey_clip(tmp_path / "grey.avi")
    at = open_page()
    at.get("file_uploader")[1].set_value(("grey.avi", clip.read_bytes(), "video/x-msvideo"))
    at.run()
    assert any(e.value.startswith("grey.avi: No face was found") for e in at.error)
    # What the Cancel button's callback leaves behind when it stops a scoring run.
    (key,) = at.session_state[classify_video.RESULTS_KEY]
    at.session_state[classify_video.RESULTS_KEY] = {}
    at.session_state[classify_video.CANCELLED_KEY] = {key}
    at.run()
    assert any("cancelled" in i.value for i in at.info) and counted == ["grey.avi"]
    at.button(key=f"classify_clip_restart_{key}").click().run()
    assert counted == ["grey.avi", "grey.avi"] and not at.exception
