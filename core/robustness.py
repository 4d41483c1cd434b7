"""``python -m core.robustness``: score runs on degraded images.

Forwards to :mod:`core.evaluation.robustness`; kept so that scripts calling it still work.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("core.evaluation.robustness", run_name="__main__", alter_sys=True)
