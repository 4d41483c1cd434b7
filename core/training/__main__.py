"""``python -m core.training`` (and ``python -m core.train``): the training command line.

Exits through :func:`core.training.distribute.exit_process`, which lets the workers of a
multi-machine run wait for each other and skips TensorFlow's slow teardown.
"""

from core.training import cli, distribute

distribute.exit_process(cli.main())
