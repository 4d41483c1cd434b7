"""A stand-in for ``kagglehub`` in tests: no network, behaviour chosen by ``FAKE_KAGGLE``.

Put ``tests/fake_kagglehub`` first on ``PYTHONPATH`` and the app's real background
download worker (``python -m core.download --worker``) imports this instead:

- ``ok``: reports progress through ``kagglehub.clients.tqdm`` like kagglehub, then lands
  a tiny ``Dataset/{Train,Validation,Test}/{Real,Fake}`` tree in the cache folder;
- ``slow``: the same, over a minute (to cancel it);
- ``offline``: raises requests' ConnectionError for a name that does not resolve;
- ``unauthorized``: raises an HTTP 401 error, as Kaggle does without credentials.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from kagglehub import clients

ARCHIVE_BYTES = 4_000_000
CHUNKS = 20


def _land(folder: Path) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("Train", 4), ("Validation", 2), ("Test", 2)):
        for name in ("Real", "Fake"):
            (folder / "Dataset" / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / "Dataset" / split / name / f"{i}.jpg")


def dataset_download(handle: str, path: str | None = None, **_: object) -> str:
    """Behave like ``kagglehub.dataset_download`` as ``FAKE_KAGGLE`` says."""
    mode = os.environ.get("FAKE_KAGGLE", "ok")
    if mode == "offline":
        raise requests.exceptions.ConnectionError(
            "HTTPSConnectionPool(host='api.kaggle.com', port=443): Failed to resolve "
            "'api.kaggle.com' ([Errno -2] Name or service not known)"
        )
    if mode == "unauthorized":
        response = requests.Response()
        response.status_code = 401
        raise requests.HTTPError("401 Client Error: Unauthorized", response=response)
    pause = 3.0 if mode == "slow" else 0.02
    with clients.tqdm(total=ARCHIVE_BYTES, initial=0, unit="B") as bar:
        for _ in range(CHUNKS):
            time.sleep(pause)
            bar.update(ARCHIVE_BYTES // CHUNKS)
    folder = Path(os.environ["KAGGLEHUB_CACHE"]) / "datasets" / handle / "versions" / "1"
    _land(folder)
    return str(folder)
