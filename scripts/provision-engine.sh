#!/usr/bin/env bash
# Make sure this machine has a Docker engine that answers and the Compose v2 plugin.
#
#   bash scripts/provision-engine.sh                     do what is missing (nothing when both answer)
#   bash scripts/provision-engine.sh --plan              print the steps it would take; change nothing
#   bash scripts/provision-engine.sh --with-debootstrap  also install debootstrap (building images, CI)
#
# When `docker info` and `docker compose version` already answer, it does nothing and needs
# nothing: no root, no apt, no debootstrap (only building images needs debootstrap, and the
# image tool checks for it itself). Otherwise, on Debian or Ubuntu, as root:
#   - no engine installed: the distribution's docker.io;
#   - no Compose v2 plugin: docker-compose-plugin next to docker-ce (Docker's own packages),
#     docker-compose-v2 on Ubuntu, docker-compose on Debian trixie and later; on Debian bookworm,
#     which packages no Compose v2, the plugin binary from Debian trixie's docker-compose package,
#     fetched through a throw-away apt sources list built from this machine's own Debian mirror;
#   - an engine installed but not running: `systemctl start docker`, or dockerd in the background.
# On macOS and Windows it changes nothing and says what to do (Docker Desktop).
#
# Every probe can be overridden through the environment, so `--plan` shows the decision for any
# machine (tests/unit/test_provision.py): PROVISION_ENGINE (yes|no|denied), PROVISION_COMPOSE
# (yes|no), PROVISION_KERNEL (uname -s), PROVISION_UID, PROVISION_OS_ID, PROVISION_OS_LIKE,
# PROVISION_OS_CODENAME, PROVISION_APT, PROVISION_DOCKERD, PROVISION_DOCKER_CE, PROVISION_SYSTEMD,
# PROVISION_DEBOOTSTRAP (yes|no).
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/harness-dockerd.log}
ENGINE_WAIT_SECONDS=${ENGINE_WAIT_SECONDS:-60}
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
COMPOSE_SUITE=${COMPOSE_SUITE:-trixie}
MODE=run
WITH_DEBOOTSTRAP=${PROVISION_WITH_DEBOOTSTRAP:-0}

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; }

for arg in "$@"; do
    case $arg in
        --plan | --dry-run) MODE=plan ;;
        --with-debootstrap) WITH_DEBOOTSTRAP=1 ;;
        -h | --help) usage; exit 0 ;;
        *) printf '[provision] unknown option %s\n' "$arg" >&2; usage >&2; exit 2 ;;
    esac
done

say() { printf '[provision] %s\n' "$*"; }
die() { printf '[provision] ERROR: %s\n' "$*" >&2; exit 1; }

# --- probes: each prints one value; PROVISION_<NAME> in the environment replaces it.

probe() {
    local var="PROVISION_$1"
    shift
    if [ -n "${!var+set}" ]; then printf '%s\n' "${!var}"; else "$@"; fi
}

with_timeout() { # `timeout` is not on every system (macOS has none)
    if command -v timeout >/dev/null 2>&1; then timeout "$@"; else shift; "$@"; fi
}

# sbin too: a normal user's PATH on Debian lacks it, where debootstrap and dockerd live.
has() { if PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1; then echo yes; else echo no; fi; }

engine_state() {
    local out
    [ "$(has docker)" = yes ] || { echo no; return; }
    if out=$(with_timeout 20 docker info 2>&1); then
        echo yes
    elif grep -qi 'permission denied' <<<"$out"; then
        echo denied
    else
        echo no
    fi
}

compose_state() {
    if [ "$(has docker)" = yes ] && with_timeout 20 docker compose version >/dev/null 2>&1; then echo yes; else echo no; fi
}

os_field() { # ID, ID_LIKE, VERSION_CODENAME of /etc/os-release
    [ -r /etc/os-release ] || return 0
    (. /etc/os-release && eval "printf '%s\n' \"\${$1:-}\"")
}

docker_ce_state() {
    if dpkg-query -W -f='${Status}' docker-ce 2>/dev/null | grep -q 'install ok installed'; then echo yes; else echo no; fi
}

systemd_state() { if [ -d /run/systemd/system ]; then echo yes; else echo no; fi; }

# --- the decision

ENGINE=$(probe ENGINE engine_state)
COMPOSE=$(probe COMPOSE compose_state)
NEED_DEBOOTSTRAP=no
if [ "$WITH_DEBOOTSTRAP" = 1 ] && [ "$(probe DEBOOTSTRAP has debootstrap)" = no ]; then
    NEED_DEBOOTSTRAP=yes
fi

if [ "$ENGINE" = yes ] && [ "$COMPOSE" = yes ] && [ "$NEED_DEBOOTSTRAP" = no ]; then
    if [ "$MODE" = plan ]; then
        say "plan: nothing to do (the engine and docker compose answer)"
    else
        say "nothing to do: the engine and $(docker compose version 2>/dev/null || echo 'docker compose') answer"
    fi
    exit 0
fi

KERNEL=$(probe KERNEL uname -s)
if [ "$KERNEL" != Linux ]; then
    die "no Docker engine with Compose v2 answers, and this is $KERNEL: install and start Docker Desktop \
(Compose v2 comes with it) or another engine (e.g. colima), then check \`docker context ls\`; \
this script only provisions Debian and Ubuntu"
fi

if [ "$ENGINE" = denied ]; then
    missing=""
    [ "$COMPOSE" = yes ] || missing=" (and docker compose does not answer either: install the Compose v2 plugin)"
    die "the Docker engine runs but user $(id -un 2>/dev/null || echo "$(probe UID id -u)") may not use its socket: \
add the user to the docker group (\`sudo usermod -aG docker \$USER\`, then log in again) or use rootless Docker${missing}"
fi

[ "$(probe APT has apt-get)" = yes ] \
    || die "no Docker engine with Compose v2 answers and there is no apt-get: install Docker Engine and the Compose v2 plugin with this system's packages"

OS_ID=$(probe OS_ID os_field ID)
OS_LIKE=$(probe OS_LIKE os_field ID_LIKE)
OS_CODENAME=$(probe OS_CODENAME os_field VERSION_CODENAME)
case " $OS_ID $OS_LIKE " in
    *" ubuntu "*) FAMILY=ubuntu ;;
    *" debian "*) FAMILY=debian ;;
    *) die "no Docker engine with Compose v2 answers and this system ($OS_ID) is neither Debian nor Ubuntu: install Docker Engine and the Compose v2 plugin yourself" ;;
esac

PACKAGES=()
FETCH_COMPOSE=no
START=""
DOCKER_CE=$(probe DOCKER_CE docker_ce_state)
if [ "$ENGINE" != yes ] && [ "$(probe DOCKERD has dockerd)" = no ]; then
    PACKAGES+=(docker.io)
fi
if [ "$COMPOSE" != yes ]; then
    if [ "$DOCKER_CE" = yes ]; then
        PACKAGES+=(docker-compose-plugin) # from Docker's repository, which docker-ce came from
    elif [ "$FAMILY" = ubuntu ]; then
        PACKAGES+=(docker-compose-v2)
    else
        case $OS_CODENAME in
            buster | bullseye | bookworm) FETCH_COMPOSE=yes ;;
            *) PACKAGES+=(docker-compose) ;; # Compose v2 in Debian from trixie on
        esac
    fi
fi
[ "$NEED_DEBOOTSTRAP" = no ] || PACKAGES+=(debootstrap)
if [ "$ENGINE" != yes ]; then
    if [ "$(probe SYSTEMD systemd_state)" = yes ]; then START="systemctl start docker"; else START="dockerd"; fi
fi

STEPS=()
((${#PACKAGES[@]} == 0)) || STEPS+=("apt-get install ${PACKAGES[*]}")
[ "$FETCH_COMPOSE" = no ] || STEPS+=("fetch docker-compose from Debian $COMPOSE_SUITE through this machine's Debian mirror into $PLUGIN_DIR")
case $START in
    "") ;;
    dockerd) STEPS+=("start dockerd in the background (log: $DOCKERD_LOG) and wait until docker info answers") ;;
    *) STEPS+=("$START and wait until docker info answers") ;;
esac

if [ "$MODE" = plan ]; then
    for step in "${STEPS[@]}"; do say "plan: $step"; done
fi

UID_NOW=$(probe UID id -u)
if [ "$UID_NOW" != 0 ]; then
    printf -v joined '%s; ' "${STEPS[@]}"
    die "these steps need root: ${joined%; }. Run it as root: sudo bash scripts/provision-engine.sh"
fi
[ "$MODE" = run ] || exit 0

# --- doing it (root, Debian or Ubuntu)

engine_answers() { with_timeout 10 docker info >/dev/null 2>&1; }
compose_answers() { with_timeout 10 docker compose version >/dev/null 2>&1; }

apt_install() {
    say "apt-get update"
    with_timeout 600 apt-get update -qq || die "apt-get update failed"
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive with_timeout 900 apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || die "apt-get install $* failed"
}

# The Debian mirror this machine already uses for its own release, from its apt sources
# (deb822 .sources files or one-line lists), so no host is written into this script.
debian_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$OS_CODENAME" '
            /^URIs:/   { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite && !found) found = uri }
            END        { if (found) print found }
        ' "$f"
    done | head -n 1
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v suite="$OS_CODENAME" '$1 == "deb" {
            for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { uri = $i; break }
            for (j = i + 1; j <= NF; j++) if ($j == suite) { print uri; exit }
        }' "$f"
    done | head -n 1
}

install_compose_from_trixie() {
    local mirror tmp opts
    mirror=$(debian_mirror | head -n 1)
    [ -n "$mirror" ] || die "Debian $OS_CODENAME packages no Compose v2, and no apt source for $OS_CODENAME in /etc/apt names a Debian mirror to fetch it from $COMPOSE_SUITE"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
    # A throw-away sources list and state folder: the machine's own apt configuration never sees trixie.
    printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
        "$mirror" "$COMPOSE_SUITE" >"$tmp/sources.list"
    opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o "APT::Sandbox::User=root")
    say "fetching docker-compose from Debian $COMPOSE_SUITE"
    with_timeout 600 apt-get "${opts[@]}" update -qq || die "apt-get update of $COMPOSE_SUITE failed"
    (cd "$tmp" && with_timeout 600 apt-get "${opts[@]}" download docker-compose >/dev/null) \
        || die "could not download docker-compose from $COMPOSE_SUITE"
    dpkg-deb -x "$tmp"/docker-compose_*.deb "$tmp/root"
    install -D -m 0755 "$tmp/root/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGIN_DIR/docker-compose"
    say "installed $PLUGIN_DIR/docker-compose"
}

start_engine() {
    if [ "$START" != dockerd ]; then
        say "$START"
        $START || die "$START failed; see \`journalctl -u docker\`"
    elif ! pgrep -x dockerd >/dev/null; then
        say "starting dockerd (log: $DOCKERD_LOG)"
        # Own session, no terminal: the engine must outlive this script and never receive
        # the caller's Ctrl+C.
        setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    for _ in $(seq 1 "$ENGINE_WAIT_SECONDS"); do
        engine_answers && return 0
        sleep 1
    done
    die "the engine did not answer within ${ENGINE_WAIT_SECONDS}s; see $DOCKERD_LOG or \`journalctl -u docker\`"
}

((${#PACKAGES[@]} == 0)) || apt_install "${PACKAGES[@]}"
[ "$FETCH_COMPOSE" = no ] || install_compose_from_trixie
[ -z "$START" ] || engine_answers || start_engine

engine_answers || die "docker info does not answer"
compose_answers || die "docker compose does not answer after installing the plugin"
say "ready: $(docker version --format 'engine {{.Server.Version}}') / $(docker compose version)"
