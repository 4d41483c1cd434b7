"""Where datasets come from: the generated demo set and the Kaggle download.

May import: data and the layers below it.
"""
