#!/usr/bin/env bash
# The work order's command, kept as a thin shim over the harness:
#
#   bash scripts/run-tests.sh MODULE
#
# runs `nox -s "tests(module='MODULE')"` from the repository root (without nox on the PATH:
# `python3 -m harness run MODULE`) and exits with its code: 0 passed, 1 tests failed or did
# not run, 2 usage or module error, 3 environment error, 5 no tests (the module has no tests
# package), 130/143/129 interrupted. Everything
# else (unique project, port lease, readiness, cleanup that survives SIGKILL, the log in
# proof_of_execution_tests.log, artefacts/) is the harness's: see README.md.
#
# RUN_TESTS_WITH=nox|python picks the runner instead of the automatic choice.
set -euo pipefail

usage() {
    echo "usage: bash scripts/run-tests.sh MODULE    e.g. bash scripts/run-tests.sh traction"
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

runner=${RUN_TESTS_WITH:-}
if [ -z "$runner" ]; then
    if command -v nox >/dev/null 2>&1; then runner=nox; else runner=python; fi
fi

case $runner in
    nox)
        # exec: signals (Ctrl+C, SIGTERM, SIGHUP) reach the harness directly, and its exit code is ours.
        exec nox -s "tests(module='$module')"
        ;;
    python)
        python=${PYTHON:-python3}
        if ! "$python" -c 'import docker, psutil, requests' >/dev/null 2>&1; then
            echo "error: neither nox nor the harness's Python dependencies are installed; install nox" \
                "(pipx install nox, or python3 -m venv .venv && .venv/bin/pip install nox) and run this again" >&2
            exit 3
        fi
        exec "$python" -m harness run "$module"
        ;;
    *)
        echo "error: RUN_TESTS_WITH must be nox or python, not '$runner'" >&2
        exit 2
        ;;
esac
