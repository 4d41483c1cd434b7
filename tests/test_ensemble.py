"""Ensembles: identical members give the member back; mismatched test sets are refused."""

from __future__ import annotations

import numpy as np
import pytest

from core import metrics
from core.evaluation import ensemble


def record(run: str, p_real: list[float], files: list[str] | None = None) -> dict:
    """A re-score record as core.evaluation.compare stores it."""
    files = files or [f"Test/{'Real' if i % 2 else 'Fake'}/{i}.jpg" for i in range(len(p_real))]
    labels = [1 if "/Real/" in path else 0 for path in files]
    return {
        "run": run,
        "test_set_id": "abc",
        "files": files,
        "labels": labels,
        "p_real": p_real,
        "metrics": metrics.detection_report(labels, p_real),
    }


P = [0.1, 0.8, 0.45, 0.3, 0.2, 0.95]


@pytest.mark.parametrize("method", ensemble.METHODS)
def test_ensemble_of_two_identical_runs_equals_each_of_them(method: str) -> None:
    one, two = record("cnn_1", P), record("cnn_2", P)
    combined = ensemble.combine_records([one, two], method)
    assert np.allclose(combined["p_real"], P, atol=1e-6)
    for key in ("accuracy", "auc", "ap", "eer", "f1", "balanced_accuracy"):
        assert combined["metrics"][key] == pytest.approx(one["metrics"][key])
    assert combined["members"] == ["cnn_1", "cnn_2"]


def test_mean_logit_and_mean_probability_differ_as_expected() -> None:
    members = [[0.99, 0.5], [0.5, 0.5]]
    by_logit = ensemble.combine(members, "logit")
    by_probability = ensemble.combine(members, "probability")
    assert by_probability[0] == pytest.approx(0.745)
    # logit(0.99) = 4.595; mean with 0 is 2.2976; sigmoid = 0.9087
    assert by_logit[0] == pytest.approx(0.90867, abs=1e-4)
    assert by_logit[1] == pytest.approx(0.5) and by_probability[1] == pytest.approx(0.5)


def test_one_image_many_members() -> None:
    assert float(ensemble.combine([0.2, 0.8])) == pytest.approx(0.5)


def test_different_files_are_refused_with_a_reason() -> None:
    a = record("cnn_1", P)
    b = record("xception_1", P, files=[f"Test/Fake/{i}.jpg" for i in range(len(P))])
    with pytest.raises(ensemble.EnsembleError, match="not scored on identical files"):
        ensemble.combine_records([a, b])


def test_needs_two_members_and_a_known_rule() -> None:
    with pytest.raises(ensemble.EnsembleError, match="at least two"):
        ensemble.combine_records([record("cnn_1", P)])
    with pytest.raises(ensemble.EnsembleError, match="logit, probability"):
        ensemble.combine([[0.5]], "median")


def test_ensemble_can_beat_its_members() -> None:
    # Each member errs on a different image; together they are right on all.
    a = record("a", [0.2, 0.4, 0.2, 0.9])  # image 1 (Real) wrong
    b = record("b", [0.6, 0.9, 0.2, 0.9])  # image 0 (Fake) wrong
    combined = ensemble.combine_records([a, b], "probability")
    assert a["metrics"]["accuracy"] == b["metrics"]["accuracy"] == 0.75
    assert combined["metrics"]["accuracy"] == 1.0


def test_name() -> None:
    assert ensemble.ensemble_name(["a", "b", "c"]) == "Ensemble (mean logit) of 3 runs"


def _record(name: str, rescores: dict):
    from types import SimpleNamespace

    return SimpleNamespace(name=name, rescores=rescores)


def test_for_test_set_needs_a_common_set_scored_by_every_run() -> None:
    import pandas as pd
    import pytest

    from core.evaluation import ensemble

    stored = {"files": ["a/Real/1.jpg", "a/Fake/2.jpg"], "labels": [1, 0], "p_real": [0.8, 0.3]}
    same = [_record("r1", {"t1": stored}), _record("r2", {"t1": stored})]
    result = ensemble.for_test_set(same, "t1")
    assert result["members"] == ["r1", "r2"] and result["p_real"] == pytest.approx([0.8, 0.3])
    with pytest.raises(ensemble.EnsembleError, match="common test set"):
        ensemble.for_test_set(same, None)
    with pytest.raises(ensemble.EnsembleError, match="r2 not scored on test set t1"):
        ensemble.for_test_set([same[0], _record("r2", {"t2": stored})], "t1")
    table = pd.DataFrame([{"run": "r1", "common/test_set": "t1 (2)", "common/auc": 1.0}])
    grown = ensemble.table_row(table, "Ensemble", result, "common/")
    assert list(grown["run"]) == ["r1", "Ensemble"]
    assert grown["common/auc"].iloc[1] == result["metrics"]["auc"]
    assert grown["common/test_set"].iloc[1] == "t1 (2)"
