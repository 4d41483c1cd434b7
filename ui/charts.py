"""The pages' plotly figures: re-exported from :mod:`core.figures`.

The builders live in ``core`` so that the HTML report (:mod:`core.report`) draws the
same figures without Streamlit; pages keep importing ``ui.charts``.
"""

from core.figures import *  # noqa: F403
from core.figures import __all__  # noqa: F401
