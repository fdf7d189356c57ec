"""Exit codes, their headlines and the exceptions that carry them: the one place they are defined.

Which code a run ends with is decided by harness.outcome.decide, from what the run recorded.
"""

from __future__ import annotations

import enum
import signal
from typing import ClassVar


class ExitCode(enum.IntEnum):
    """The harness's documented exit codes (README, "Exit codes")."""

    PASSED = 0
    TESTS_FAILED = 1
    USAGE = 2
    ENVIRONMENT = 3
    # pytest's code for "no tests collected": the module has no tests package, Odoo installed it
    # and ran nothing. Not a failure (data-only and view-only modules are common), not a pass.
    NO_TESTS = 5
    SIGHUP = 128 + signal.SIGHUP  # 129
    SIGINT = 128 + signal.SIGINT  # 130
    SIGTERM = 128 + signal.SIGTERM  # 143


# What a person reads first, by exit code (the final block, result.json's `verdict`, CI summaries).
HEADLINES: dict[int, str] = {
    ExitCode.PASSED: "PASSED",
    ExitCode.TESTS_FAILED: "FAILED",
    ExitCode.USAGE: "USAGE ERROR",
    ExitCode.ENVIRONMENT: "ENVIRONMENT ERROR",
    ExitCode.NO_TESTS: "NO TESTS",
    ExitCode.SIGINT: "INTERRUPTED",
    ExitCode.SIGTERM: "INTERRUPTED",
    ExitCode.SIGHUP: "INTERRUPTED",
}


def headline(exit_code: int) -> str:
    """`PASSED`, `FAILED`, `USAGE ERROR`, `ENVIRONMENT ERROR`, `NO TESTS` or `INTERRUPTED` (`EXIT N` for others)."""
    return HEADLINES.get(exit_code, f"EXIT {exit_code}")


SIGNAL_EXIT_CODES: dict[int, ExitCode] = {
    signal.SIGINT: ExitCode.SIGINT,
    signal.SIGTERM: ExitCode.SIGTERM,
    signal.SIGHUP: ExitCode.SIGHUP,
}


class HarnessError(Exception):
    """An error the user can act on; `exit_code` says how the run ends."""

    exit_code: ClassVar[ExitCode] = ExitCode.ENVIRONMENT

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(HarnessError):
    """Bad arguments, an invalid module name or a module that does not exist."""

    exit_code: ClassVar[ExitCode] = ExitCode.USAGE


class EnvironmentProblem(HarnessError):
    """Docker, Compose, ports or readiness failed: nothing wrong with the tests."""

    exit_code: ClassVar[ExitCode] = ExitCode.ENVIRONMENT


class NoFreePort(EnvironmentProblem):
    """Every port of the configured range is taken."""


class ReadinessFailed(EnvironmentProblem):
    """Odoo never became ready: it exited, turned unhealthy or the wait timed out."""


class Interrupted(BaseException):
    """Raised from a signal handler; a BaseException so `except Exception` cannot swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> ExitCode:
        """The exit code this signal maps to (130, 143 or 129)."""
        return SIGNAL_EXIT_CODES[self.signum]
