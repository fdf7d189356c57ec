#!/usr/bin/env bash
# The work order's command, and the one command a fresh machine needs:
#
#   bash scripts/run-tests.sh MODULE
#
# sets up what is missing, then runs `nox -s "tests(module='MODULE')"` from the repository root
# and exits with its code: 0 passed, 1 tests failed or did not run, 2 usage or module error,
# 3 environment error, 5 no tests (the module has no tests package), 130/143/129 interrupted. The set-up, each step only when needed:
#   1. the Docker engine and Compose v2: as root on Debian/Ubuntu, scripts/provision-engine.sh
#      installs or starts them; otherwise it says what to do;
#   2. nox: RUN_TESTS_NOX, else the one on the PATH or the project's .venv/bin/nox when the
#      noxfile's dependencies are beside it, else it creates (or completes) .venv with nox and them
#      (as root it installs python3-venv when Debian's Python lacks it);
#   3. the images: the configured Odoo and PostgreSQL images (ODOO_IMAGE, POSTGRES_IMAGE; the
#      compose file's defaults odoo:18.0 and postgres:16) when they are on the engine or can be
#      pulled; else the project's own (hub-harness/odoo:18.0, hub-harness/postgres:15), built with
#      `nox -s images` from HARNESS_ODOO_SOURCE (an Odoo 18 source archive or checkout) or
#      reused; else it exits 3 saying exactly what to set.
# Everything else (unique project, port lease, readiness, cleanup that survives SIGKILL, the log
# in proof_of_execution_tests.log, artefacts/) is the harness's: see README.md.
#
# RUN_TESTS_WITH=nox|python picks the runner (python: `python3 -m harness run MODULE` with the
# harness's dependencies installed); RUN_TESTS_SETUP=0 skips the set-up (the unit tests do).
set -euo pipefail

usage() {
    echo "usage: bash scripts/run-tests.sh MODULE    e.g. bash scripts/run-tests.sh traction"
}
say() { printf '[run-tests] %s\n' "$*" >&2; }
fail() {
    say "error: $*"
    exit 3
}

if [ $# -ne 1 ]; then
    usage >&2
    exit 2
fi
case $1 in
    -h | --help) usage; exit 0 ;;
esac
module=$1
# Only an Odoo technical name goes into the session name (the harness checks it again).
if ! [[ $module =~ ^[a-z][a-z0-9_]{0,63}$ ]]; then
    echo "error: invalid module name '$module': an Odoo technical name is lowercase letters, digits and underscores, starting with a letter" >&2
    exit 2
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."

OWN_ODOO=hub-harness/odoo:18.0
OWN_POSTGRES=hub-harness/postgres:15
is_root() { [ "$(id -u)" = 0 ]; }

ensure_engine() {
    if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
        return 0
    fi
    if is_root && [ "$(uname -s)" = Linux ]; then
        say "no Docker engine with Compose v2 answers: scripts/provision-engine.sh sets it up"
        bash scripts/provision-engine.sh >&2 || fail "scripts/provision-engine.sh could not set up Docker"
        return 0
    fi
    if command -v docker >/dev/null 2>&1 && docker info 2>&1 | grep -qi "permission denied"; then
        fail "user $(id -un) may not use the Docker engine: an administrator adds it to the docker group" \
            "(sudo usermod -aG docker $(id -un)), then log in again (or run: newgrp docker)"
    fi
    fail "no Docker engine with Compose v2 answers: run 'sudo bash scripts/provision-engine.sh'" \
        "(Debian/Ubuntu), or start Docker Desktop (macOS, Windows)"
}

# Whether a nox has the noxfile's dependencies beside it (its shebang's interpreter imports them).
# A nox without them (a plain `pipx install nox`) works, but makes a script environment and
# reinstalls into it at every call: `uv binary not found`, pip's `Requirement already satisfied`.
complete_nox() {
    local python
    python=$(sed -n '1s/^#!\([^ ]*\).*/\1/p' "$1" 2>/dev/null)
    [ -n "$python" ] && "$python" -c 'import nox, docker, requests, psutil, coverage, diff_cover' >/dev/null 2>&1
}

# The nox to run: RUN_TESTS_NOX, else one with the dependencies (on the PATH, else the project's
# .venv), else the project's .venv made (or completed) now.
find_nox() {
    if [ -n "${RUN_TESTS_NOX:-}" ]; then
        echo "$RUN_TESTS_NOX"
        return 0
    fi
    local candidate
    for candidate in "$(command -v nox || true)" "$PWD/.venv/bin/nox"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && complete_nox "$candidate"; then
            echo "$candidate"
            return 0
        fi
    done
    local floor
    floor=$(grep -o 'nox>=[0-9.]*' pyproject.toml | head -n 1)
    if [ -x .venv/bin/nox ]; then
        say ".venv/bin/nox lacks the harness's dependencies: installing them into .venv (once)"
    else
        say "no nox with the harness's dependencies: creating .venv with $floor and them (once)"
    fi
    if ! python3 -m venv .venv >/dev/null 2>&1; then
        rm -rf .venv
        if is_root && command -v apt-get >/dev/null 2>&1; then
            say "Python's venv module is missing: apt-get install python3-venv"
            (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv) >&2 \
                || fail "apt-get install python3-venv failed"
            python3 -m venv .venv >&2 || fail "python3 -m venv .venv failed"
        else
            fail "python3 cannot create a virtual environment: install python3-venv" \
                "(sudo apt-get install python3-venv)"
        fi
    fi
    # With the noxfile's own dependencies beside nox, nox needs no script environment of its own
    # (no reinstall check, no "Requirement already satisfied" lines, at every call).
    local deps
    read -r -a deps <<<"$(sed -n 's/^# dependencies = \[\(.*\)\]$/\1/p' noxfile.py | tr -d '",')"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "${deps[@]:-$floor}" >&2 \
        || fail ".venv/bin/pip install ${deps[*]:-$floor} failed (see pip's message above)"
    echo "$PWD/.venv/bin/nox"
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
pullable() {
    say "image $1 is not on the engine: trying docker pull $1"
    timeout "${RUN_TESTS_PULL_TIMEOUT:-300}" docker pull -q "$1" >/dev/null 2>&1
}

ensure_images() {
    local nox=$1 odoo=${ODOO_IMAGE:-odoo:18.0} postgres=${POSTGRES_IMAGE:-postgres:16}
    if have_image "$odoo" && have_image "$postgres"; then
        return 0
    fi
    # Once the project's own images exist (and none was chosen by name), a repeated run uses them
    # without asking a registry again: a registry that hangs would cost every run the pull timeout.
    local own=0
    if [ -z "${ODOO_IMAGE:-}${POSTGRES_IMAGE:-}" ] && have_image "$OWN_ODOO" && have_image "$OWN_POSTGRES"; then
        own=1
    fi
    if [ "$own" = 0 ] && { have_image "$odoo" || pullable "$odoo"; } && { have_image "$postgres" || pullable "$postgres"; }; then
        return 0
    fi
    # The project's own images replace the configured ones only when none was chosen by name.
    for chosen in "${ODOO_IMAGE:-}" "${POSTGRES_IMAGE:-}"; do
        if [ -n "$chosen" ] && [ "$chosen" != "$OWN_ODOO" ] && [ "$chosen" != "$OWN_POSTGRES" ]; then
            fail "image $chosen (ODOO_IMAGE / POSTGRES_IMAGE) is neither on the engine nor pullable:" \
                "load it (docker load -i FILE) or unset the variable to use the project's own images"
        fi
    done
    if [ -n "${HARNESS_ODOO_SOURCE:-}" ]; then
        say "building the project's images $OWN_ODOO and $OWN_POSTGRES from HARNESS_ODOO_SOURCE=$HARNESS_ODOO_SOURCE" \
            "(reused when built already; the first build takes minutes and needs root for debootstrap)"
        "$nox" -s images >&2 || fail "nox -s images failed (see above)"
    elif ! { have_image "$OWN_ODOO" && have_image "$OWN_POSTGRES"; }; then
        fail "the Odoo image $odoo is neither on the engine nor pullable, and the project cannot build its own" \
            "without the Odoo 18 source: set HARNESS_ODOO_SOURCE to an Odoo 18 source archive or checkout" \
            "(e.g. export HARNESS_ODOO_SOURCE=~/src/odoo-18.0.tar.xz), or ODOO_IMAGE and POSTGRES_IMAGE" \
            "to images you have"
    fi
    say "using the project's images: ODOO_IMAGE=$OWN_ODOO POSTGRES_IMAGE=$OWN_POSTGRES"
    export ODOO_IMAGE=$OWN_ODOO POSTGRES_IMAGE=$OWN_POSTGRES
}

runner=${RUN_TESTS_WITH:-nox}
case $runner in
    nox | python) ;;
    *)
        echo "error: RUN_TESTS_WITH must be nox or python, not '$runner'" >&2
        exit 2
        ;;
esac

if [ "${RUN_TESTS_SETUP:-1}" = 0 ]; then
    nox=$(command -v nox || echo nox)
else
    ensure_engine
    nox=$(find_nox)
    ensure_images "$nox"
fi

case $runner in
    nox)
        # exec: signals (Ctrl+C, SIGTERM, SIGHUP) reach the harness directly, and its exit code is ours.
        exec "$nox" -s "tests(module='$module')"
        ;;
    python)
        python=${PYTHON:-python3}
        if ! "$python" -c 'import docker, psutil, requests' >/dev/null 2>&1; then
            echo "error: the harness's Python dependencies are not installed for $python; run without" \
                "RUN_TESTS_WITH=python (nox installs them), or: python3 -m venv .venv && .venv/bin/pip install -e ." >&2
            exit 3
        fi
        exec "$python" -m harness run "$module"
        ;;
esac
