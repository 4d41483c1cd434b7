"""``python -m core.train``: train a detector.

Forwards to :mod:`core.training`; kept so that scripts calling the old command still work.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("core.training", run_name="__main__", alter_sys=True)
