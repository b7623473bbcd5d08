"""The evaluate floor: a policy compiled into tables and the pure ``decide`` over them.

Holds the compiler (``Compiled``), the decision paths (the generated straight path and
the general one), the rate-limit header readers, the reasons, the delay schedule and
worst case, and the pacing arithmetic (holds and quotas read from responses).

It may import ``policy.language`` and nothing else of ``policy`` (never ``transport``):
it never sleeps, reads a clock or draws a random number; callers pass ``now`` and
``rand``.  Users reach it through ``Policy`` (``decide``, ``schedule``, ``hold``...).
"""
