"""``python -m core.jobs``: print the training queue; ``--worker`` works through it."""

import sys

from core.jobs import training_queue

sys.exit(training_queue.main())
