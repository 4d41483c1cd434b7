"""Deepfake detectors: the registry (:mod:`.registry`) and one file per model.

Owns how each detector is built, its options and its Grad-CAM layer. Imports only
Keras and the leaf modules; everything else reads a model through its spec.
"""
