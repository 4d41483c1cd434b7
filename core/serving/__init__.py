"""Classifying a person's images with trained runs: predict, verdicts, Grad-CAM.

:func:`.classify.classify` returns the verdicts the Classify page draws. May import:
evaluation, runs, data and below.
"""
