"""hub-harness: run one Odoo 18 module's tests in an isolated Docker Compose environment, always clean up.

The public API, for the noxfile, the repository's tooling and other callers:

    from harness import load_config, run_module, ExitCode
    result = run_module(load_config(), "traction")   # a RunResult; result.exit_code is an ExitCode value

Names are loaded on first use, so `import harness.records` (the reporting layer) stays free of
docker and psutil.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Config", "ExitCode", "RunResult", "load_config", "run_module"]

# Where each public name lives.
_HOMES = {
    "Config": "harness.config",
    "load_config": "harness.config",
    "ExitCode": "harness.errors",
    "RunResult": "harness.result",
    "run_module": "harness.run",
}

if TYPE_CHECKING:
    from harness.config import Config, load_config
    from harness.errors import ExitCode
    from harness.result import RunResult
    from harness.run import run_module


def __getattr__(name: str) -> Any:
    """The public names, imported when first asked for (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
