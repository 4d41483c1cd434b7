"""``python -m core.predict``: classify images.

Forwards to :mod:`core.serving.predict`; kept so that scripts calling the old command still work.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("core.serving.predict", run_name="__main__", alter_sys=True)
