"""Training a run: the trainer, its command line, checkpoints and resume, pipelines.

``python -m core.training`` (and ``python -m core.train``) runs :mod:`.cli`. May
import: evaluation (the final test scores), runs, sources, explore, data and below;
never jobs (the queue starts the trainer as a process).
"""
