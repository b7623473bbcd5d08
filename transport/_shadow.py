"""A clear error when the user's own ``policy`` module hides retry-policy's ``policy``.

The distribution installs two import packages, ``policy`` and ``transport``.  A file
named ``policy.py`` (or a folder ``policy/`` without this package's code) next to a
user's script comes first on ``sys.path``, and ``import transport`` would fail deep in
an import with "'policy' is not a package".  ``check_policy_package`` runs before
``transport`` imports anything of ``policy`` and says what happened and how to fix it.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["check_policy_package"]


def check_policy_package() -> None:
    """Raise ``ImportError`` naming the shadowing file if ``policy`` is not retry-policy's."""
    found = sys.modules.get("policy")
    if found is None:
        try:
            found = importlib.import_module("policy")
        except ImportError:
            return  # the real import below reports it
    if getattr(found, "__path__", None) is not None and hasattr(found, "parse"):
        return
    where = getattr(found, "__file__", None) or repr(found)
    raise ImportError(
        f"transport needs retry-policy's 'policy' package, but 'policy' is {where}: a module "
        "of your own with the same name hides it. Rename your policy.py (or policy/ folder), "
        "or run from another directory."
    )
