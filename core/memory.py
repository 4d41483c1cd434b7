"""``python -m core.memory``: estimate a run's peak memory.

Forwards to :mod:`core.training.memory`; kept so that scripts calling the old command still work.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("core.training.memory", run_name="__main__", alter_sys=True)
