"""Run folders and what is recorded in them.

Owns a run's folder (:mod:`.run_folders`: atomic JSON, locked state changes,
listing), its configuration (:mod:`.config`), progress and checkpoint files, model
card, TensorBoard logs, the rules about a stopped run's state (:mod:`.lifecycle`)
and the record the comparison reads (:mod:`.record`). May import: data and the
layers below it.
"""
