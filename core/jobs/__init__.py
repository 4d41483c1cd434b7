"""Background work that survives page reloads: one lane, two queues.

:mod:`.lane` is the worker loop, lock, cancel and liveness shared by the training
queue (:mod:`.training_queue`) and the scoring queue (:mod:`.scoring_queue`);
:mod:`.run_queue` answers questions about the queue (duplicates, time left).
``python -m core.jobs`` prints the training queue, ``--worker`` works it. May import
every package of ``core`` except the forwarding command modules.
"""
