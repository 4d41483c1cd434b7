"""Images and datasets on disk: decode, find faces, index, store, stream, test sets.

Owns the one safe image decoder (:mod:`.images`), the Kaggle-layout dataset catalog
(:mod:`.catalog`), the decoded-image stores (:mod:`.store`, :mod:`.stream`), test-set
identities (:mod:`.testsets`) and the pixel-level transforms used by training and
robustness (:mod:`.blend`, :mod:`.perturb`). May import: settings, metrics, processes,
models.
"""
