"""``python -m core.download``: download the kaggle dataset.

Forwards to :mod:`core.sources.download`; kept so that scripts calling the old command still work.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("core.sources.download", run_name="__main__", alter_sys=True)
