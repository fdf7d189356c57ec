"""The command that runs one module's tests in the odoo container, and hiding secrets in what is shown.

Pure: no Docker, no processes. Why each argument is there is said next to it (real Odoo 18 fails in
five ways with the work order's literal command; see docs/odoo18-facts.md).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.addons_path import odoo_addons_path
from harness.config import Config
from harness.errors import UsageError
from harness.naming import validate_module_name

REDACTED = "***"
# Secrets this long are unlikely to collide with ordinary words, so they are redacted anywhere.
_LONG_SECRET = 8
# Odoo's option for the database password (its short form -w means something else to docker).
_PASSWORD_OPTION = "--db_password"

# PostgreSQL accepts more, but the name travels through argv and Odoo's db filters: keep it plain.
_DATABASE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def build_test_command(
    config: Config, module: str, *, database: str | None = None, test_tags: str | None = None
) -> list[str]:
    """The argv run in the odoo container (`docker compose exec -T odoo ...`) to test `module`.

    `test_tags` narrows the run to a selection (harness/selection.py builds it, scoped to `module`).
    """
    # Anything but a technical name (a leading "-", a "/", spaces) Odoo would read as an option or a
    # tag expression instead of a module: the same check the run makes before Docker.
    validate_module_name(module)
    return [
        *_server_arguments(config, database),
        # Install (not update) the module into the fresh database: this is what runs its
        # at_install tests and proves that it installs at all.
        "-i",
        module,
        # Only this module's tests (at_install and post_install). It also enables testing in
        # 18.0; --test-enable would run base's, web's and every auto-installed module's tests too.
        "--test-tags",
        test_tags or f"/{module}",
        # Exit once the tests are done instead of serving requests.
        "--stop-after-init",
        # Accepted and a no-op in 18.0; kept so test-level lines show if a version honours it.
        "--log-level=test",
    ]


# A test tag no test carries: the cache build runs in test mode, as the test run does, yet tests nothing.
NO_TEST_TAG = "harness_cache_build_selects_no_test"


def build_install_command(config: Config, modules: Sequence[str], *, database: str | None = None) -> list[str]:
    """The argv that installs `modules` (and what they pull in) without running a test: a cache build.

    `--test-tags` turns Odoo's test mode on (config['test_enable']) exactly as the test run's
    does, so install code that reads it leaves the same data in an entry as in an uncached run;
    the tag selects no test.
    """
    if not modules:
        raise UsageError("nothing to install")
    for module in modules:
        validate_module_name(module)
    return [
        *_server_arguments(config, database),
        "-i",
        ",".join(modules),
        "--test-tags",
        NO_TEST_TAG,
        "--stop-after-init",
    ]


def _server_arguments(config: Config, database: str | None) -> list[str]:
    """Launcher, configuration, database and HTTP port: what every Odoo process of a run needs."""
    db = config.db_name if database is None else database
    if not _DATABASE_NAME.fullmatch(db):
        raise UsageError(f"database name {db!r} must be letters, digits, '_', '.' or '-' (not first)")
    return [
        # The official image ships the launcher `odoo`; `odoo-bin` does not exist there (exit 126).
        config.odoo_executable,
        # The image's config only sets addons_path and data_dir; reading it keeps data_dir.
        "-c",
        config.odoo_config,
        # Every addons folder as mounted (harness/addons_path.py), in the configured order: the
        # image's config names only the first.
        "--addons-path",
        odoo_addons_path(config),
        # A database of its own, never the server's.
        "-d",
        db,
        # `docker compose exec` bypasses the image's entrypoint, which is what normally turns
        # HOST/USER/PASSWORD into these arguments: without them Odoo tries the local socket and
        # exits 1 ("connection to server on socket ... failed").
        "--db_host",
        config.db_host,
        "--db_port",
        str(config.db_port),
        "--db_user",
        config.db_user,
        "--db_password",
        config.db_password,
        # Running tests makes Odoo start its HTTP server even with --stop-after-init, and the
        # container's own server already holds 8069: "OSError: [Errno 98] Address already in use".
        "--http-port",
        str(config.test_http_port),
    ]


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `***`.

    A short secret such as the default password `odoo` is also a word of every Odoo log, so it is
    only replaced where it stands alone (not inside `odoo.addons...` or `/odoo/`); a secret of 8
    characters or more is replaced wherever it appears.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if secret not in text:
            continue  # the common case, at C speed: most lines hold no secret
        if len(secret) >= _LONG_SECRET:
            text = text.replace(secret, REDACTED)
        else:
            # Not glued to a character that continues an identifier, a dotted name or a path.
            standalone = re.compile(rf"(?<![\w./-]){re.escape(secret)}(?![\w./-])")
            text = standalone.sub(REDACTED, text)
    return text


def redact(argv: Sequence[str], secrets: Iterable[str]) -> list[str]:
    """A copy of `argv` fit for display and artefacts: secret values replaced by `***`.

    The value of `--db_password` is always hidden. Elsewhere secrets are hidden as in
    `redact_text`, except that an argument that *is* a short secret is kept: with the defaults
    `odoo` is the password but also the launcher, the compose service and the user.
    """
    wanted = [s for s in secrets if s]
    redacted: list[str] = []
    hide_next = False
    for arg in argv:
        option, equals, _ = arg.partition("=")
        if hide_next:
            redacted.append(REDACTED)
            hide_next = False
        elif option == _PASSWORD_OPTION:
            hide_next = not equals
            redacted.append(f"{option}={REDACTED}" if equals else arg)
        elif arg in wanted and len(arg) < _LONG_SECRET:
            redacted.append(arg)
        else:
            redacted.append(redact_text(arg, wanted))
    return redacted


# A setting whose name holds one of these words carries a secret (HARNESS_DB_PASSWORD, ...).
_SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN")


def is_secret_name(name: str) -> bool:
    """True for a variable or key that holds a secret, by its name."""
    return any(word in name.upper() for word in _SECRET_WORDS)


# The default database password is public: the compose file and the docs print it, and it is
# also the user, the service and the launcher. Hiding it would turn every "odoo" of the harness's
# own lines into *** and protect nothing; a password the user sets is hidden everywhere.
PUBLIC_PASSWORDS = frozenset({Config.db_password})


def known_secrets(config: Config, *environments: Mapping[str, str]) -> list[str]:
    """Every password the harness knows: the database's, and each secret-named HARNESS_* value of the
    process environment and of `environments` (a run's compose variables: the server's master password),
    except the public default (PUBLIC_PASSWORDS)."""
    found = {config.db_password}
    for env in (os.environ, *environments):
        found |= {value for key, value in env.items() if key.startswith("HARNESS_") and is_secret_name(key)}
    return sorted(secret for secret in found if secret and secret not in PUBLIC_PASSWORDS)


def shown_setting(name: str, value: str) -> str:
    """`NAME=value` for a command line shown in an artefact: a secret's value is `***`."""
    return f"{name}={REDACTED if is_secret_name(name) else shlex.quote(value)}"


def redact_data(data: Any, secrets: Iterable[str]) -> Any:
    """`data` (JSON-like: dicts, lists, strings) with every secret hidden in every string, keys included."""
    secrets = list(secrets)
    if isinstance(data, str):
        return redact_text(data, secrets)
    if isinstance(data, dict):
        return {redact_data(key, secrets): redact_data(value, secrets) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(item, secrets) for item in data]
    return data
