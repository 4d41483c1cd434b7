"""All the workbench's logic: data, models, training, metrics, runs, prediction.

Nothing in this package imports streamlit, and TensorFlow is imported only inside
the modules and functions that train or predict, so the light pages stay light.
"""
