"""``python -m core.score_jobs``: list or work the scoring jobs.

Forwards to :mod:`core.jobs.scoring_queue`; kept so that scripts calling the old command still work.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("core.jobs.scoring_queue", run_name="__main__", alter_sys=True)
