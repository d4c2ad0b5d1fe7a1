"""FLINT's ball arithmetic (``arb``) and exact rationals (``fmpq``, ``fmpz``), through
python-flint: the one place they are imported, so that an installation without it gets one
clear error that says what to install, not an internal error."""

from __future__ import annotations

from ...errors import MissingDependencyError

try:
    from flint import arb, ctx, fmpq, fmpz
except ModuleNotFoundError:  # (a dependency of gradcli; missing only where it was left out)
    raise MissingDependencyError(
        "the exact check needs python-flint (FLINT's proven ball arithmetic), which is not "
        "installed",
        hint="pip install python-flint (it is one of gradcli's dependencies), or pass --no-check",
    ) from None
except ImportError as e:  # (installed, but it would not load: no memory left, a broken copy)
    raise MissingDependencyError(
        f"the exact check needs python-flint, which is installed but could not be loaded ({e})",
        hint="where memory is limited (ulimit -v), allow more; else reinstall it (pip "
        "install --force-reinstall python-flint); or pass --no-check",
    ) from None

__all__ = ["arb", "ctx", "fmpq", "fmpz"]
