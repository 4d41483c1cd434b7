"""``python -m core.report``: write a comparison report.

Forwards to :mod:`core.evaluation.report`; kept so that scripts calling the old command still work.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("core.evaluation.report", run_name="__main__", alter_sys=True)
