#!/usr/bin/env bash
# Bring up a Docker engine with the Compose v2 plugin on a Debian bookworm
# machine that has none, and the tools the stand-in images are built with.
#
#   bash scripts/provision-engine.sh
#
# Idempotent: when `docker compose version` and `docker info` already answer
# (and debootstrap is installed) it does nothing. Otherwise it installs
# Debian's docker.io, takes the Compose v2 plugin binary from Debian trixie's
# docker-compose package (bookworm has none) through a temporary apt sources
# list built from this machine's own configured mirror, starts dockerd in the
# background and waits until `docker info` answers. Needs root.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/harness-dockerd.log}
ENGINE_WAIT_SECONDS=${ENGINE_WAIT_SECONDS:-60}
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
COMPOSE_SUITE=${COMPOSE_SUITE:-trixie}

say() { printf '[provision] %s\n' "$*"; }
die() { printf '[provision] ERROR: %s\n' "$*" >&2; exit 1; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }
compose_answers() { timeout 10 docker compose version >/dev/null 2>&1; }

if engine_answers && compose_answers && command -v debootstrap >/dev/null; then
    say "engine, compose and debootstrap already there: $(docker compose version)"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root to install packages and start dockerd"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian only"

# The Debian mirror this machine already uses, from its own apt sources
# (deb822 .sources files or one-line sources.list), so no host is hard-coded.
debian_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            /^URIs:/   { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm" && !found) found = uri }
            END        { if (found) print found }
        ' "$f" | head -n 1
    done | head -n 1
    if [ -f /etc/apt/sources.list ]; then
        awk '$1 == "deb" && $0 ~ / bookworm / { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
            /etc/apt/sources.list
    fi
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        say "apt-get update"
        timeout 600 apt-get update -qq || die "apt-get update failed"
        apt_updated=1
    fi
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || die "apt-get install $* failed"
}

command -v dockerd >/dev/null || apt_install docker.io
command -v debootstrap >/dev/null || apt_install debootstrap

install_compose_plugin() {
    local mirror tmp opts
    mirror=$(debian_mirror | head -n 1)
    [ -n "$mirror" ] || die "could not find the Debian mirror in /etc/apt/sources.list{,.d}"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
    # A throw-away sources list and state folder: the machine's own apt
    # configuration never sees trixie.
    printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
        "$mirror" "$COMPOSE_SUITE" >"$tmp/sources.list"
    opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o "APT::Sandbox::User=root")
    say "fetching docker-compose from Debian $COMPOSE_SUITE"
    timeout 600 apt-get "${opts[@]}" update -qq || die "apt-get update of $COMPOSE_SUITE failed"
    (cd "$tmp" && timeout 600 apt-get "${opts[@]}" download docker-compose >/dev/null) \
        || die "could not download docker-compose from $COMPOSE_SUITE"
    dpkg-deb -x "$tmp"/docker-compose_*.deb "$tmp/root"
    install -D -m 0755 "$tmp/root/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGIN_DIR/docker-compose"
    say "installed $PLUGIN_DIR/docker-compose"
}

[ -x "$PLUGIN_DIR/docker-compose" ] || install_compose_plugin

if ! engine_answers; then
    if ! pgrep -x dockerd >/dev/null; then
        say "starting dockerd (log: $DOCKERD_LOG)"
        # Own session, no terminal: the engine must outlive this script and
        # never receive the caller's Ctrl+C.
        setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    for _ in $(seq 1 "$ENGINE_WAIT_SECONDS"); do
        engine_answers && break
        sleep 1
    done
    engine_answers || die "dockerd did not answer within ${ENGINE_WAIT_SECONDS}s; see $DOCKERD_LOG"
fi

compose_answers || die "docker compose does not answer after installing the plugin"
say "ready: $(docker version --format 'engine {{.Server.Version}}') / $(docker compose version)"
