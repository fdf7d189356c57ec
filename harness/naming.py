"""Names: Odoo technical module names and unique Compose project names."""

from __future__ import annotations

import os
import re
import secrets
import time

from harness.errors import UsageError

# Odoo technical names: what `-i` and the addons folder use. Anything else
# (paths, dots, shell characters) is refused before it reaches a command line.
MODULE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# What `docker compose -p` accepts; it rejects rather than normalises.
COMPOSE_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
MAX_MODULE_NAME = 64
# Between the configured prefix and the module in every project name: `hub-agent-test-traction-...`.
PROJECT_MARK = "-agent-test-"
# Tokens this process handed out: with the pid in each token, no two live processes
# can produce the same one, and this set rules out repeats within one process.
_ISSUED: set[str] = set()


def unique_token() -> str:
    """`<pid in hex><4 random hex>`: unique among this host's live processes, never repeated in one."""
    while True:
        token = f"{os.getpid():x}{secrets.token_hex(2)}"
        if token not in _ISSUED:
            _ISSUED.add(token)
            return token


def validate_module_name(name: str) -> str:
    """Return `name` if it is a valid Odoo technical name, else raise UsageError."""
    if not MODULE_NAME.fullmatch(name) or len(name) > MAX_MODULE_NAME:
        raise UsageError(
            f"invalid module name {name!r}: an Odoo technical name is lowercase letters, digits and "
            f"underscores, starting with a letter (at most {MAX_MODULE_NAME} characters)"
        )
    return name


def sanitise(text: str) -> str:
    """Make `text` acceptable inside a Compose project name (lowercase, [a-z0-9_-])."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return cleaned or "x"


def project_prefix(prefix: str) -> str:
    """`{prefix}-agent-test-`: what every project of this prefix starts with (the sweep matches it)."""
    return f"{sanitise(prefix)}{PROJECT_MARK}"


def project_name(prefix: str, module: str, *, now: float | None = None, token: str | None = None) -> str:
    """`{prefix}-agent-test-{module}-{timestamp}-{pid}{random}`: unique even for runs in the same second."""
    timestamp = int(time.time() if now is None else now)
    token = unique_token() if token is None else token
    # Cut to the longest valid module name: a refused name still gets a report folder it fits in.
    name = f"{project_prefix(prefix)}{sanitise(module)[:MAX_MODULE_NAME]}-{timestamp}-{sanitise(token)}"
    if not COMPOSE_PROJECT.fullmatch(name):  # pragma: no cover - sanitise guarantees it
        raise UsageError(f"cannot build a valid compose project name from {prefix!r} and {module!r}")
    return name
