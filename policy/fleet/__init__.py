"""The fleet floor: the discrete-event simulator behind ``policy simulate`` and the plots.

It drives the real loop (``policy.loop``) and evaluator, never a copy, with simulated
time; it may import ``policy.language``, ``policy.evaluate`` and ``policy.loop``, and
never ``transport``.  matplotlib is imported only when a plot is drawn.
"""
