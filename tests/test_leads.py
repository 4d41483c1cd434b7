"""Best only where the lead holds: core.evaluation.leads with fixed score vectors."""

from __future__ import annotations

import numpy as np

from core.evaluation import leads

FILES = tuple(f"Test/{'Real' if i % 2 else 'Fake'}/{i}.jpg" for i in range(200))
LABELS = np.array([i % 2 for i in range(200)])  # Real = 1


def _scores(p_real: np.ndarray, files: tuple[str, ...] = FILES) -> leads.Scores:
    return leads.Scores(files, LABELS, np.clip(p_real, 0, 1))


def _auc(scores: leads.Scores) -> float:
    from core import metrics

    return metrics.roc_auc(1 - scores.labels, 1 - scores.p_real)


RNG = np.random.default_rng(0)
STRONG = _scores(LABELS * 0.6 + RNG.normal(0.2, 0.15, 200))
WEAK = _scores(LABELS * 0.1 + RNG.normal(0.45, 0.15, 200))
TWIN = _scores(STRONG.p_real + RNG.normal(0, 0.01, 200))
CONSTANT = _scores(np.full(200, 0.5))


def test_a_lead_beyond_noise_is_green():
    runs = [STRONG, WEAK]
    found = leads.lead("auc", [_auc(s) for s in runs], runs, [True, True])
    assert found == leads.Lead((0,), False, leads.DELONG)
    accuracy = [float(((s.p_real >= 0.5) == s.labels).mean()) for s in runs]
    found = leads.lead("accuracy", accuracy, runs, [True, True])
    assert found.rows == (0,) and not found.tied and found.test == leads.BOOTSTRAP


def test_runs_within_noise_of_the_top_are_tied():
    runs = [STRONG, TWIN, WEAK]
    found = leads.lead("auc", [_auc(s) for s in runs], runs, [True, True, True])
    assert found.tied and set(found.rows) == {0, 1}


def test_a_run_at_chance_is_never_highlighted():
    runs = [CONSTANT, WEAK]
    found = leads.lead("auc", [0.99, _auc(WEAK)], runs, [False, True])
    assert found.rows == (1,)  # the only eligible run, whatever the other's number
    assert leads.lead("auc", [0.5, 0.5], [CONSTANT, CONSTANT], [False, False]) is None


def test_nothing_is_ranked_on_different_images_or_without_scores():
    other_files = _scores(WEAK.p_real, tuple(f"x/{name}" for name in FILES))
    assert leads.lead("auc", [0.9, 0.7], [STRONG, other_files], [True, True]) is None
    found = leads.lead("auc", [0.9, 0.7], [STRONG, None], [True, True])
    assert found.rows == (0,)  # the run without scores cannot take part
