#!/usr/bin/env bash
# Start the services the integration tests use, PostgreSQL (127.0.0.1:5432) and Redis
# (127.0.0.1:6379), unless they already answer, and install the Chromium the browser tests
# drive. Safe to run when they are up. Where one is not
# installed and this runs as root on Debian or Ubuntu, it installs the system package first
# (apt-get), and for a PostgreSQL it installed, lets 127.0.0.1 in without a password and creates
# the database `test` (what the tests expect; never done to a PostgreSQL that was already there).
# When a service cannot be had it says so; that is an error (exit 1) only when CI is set.
set -u

problems=0

say() { printf 'services: %s\n' "$*" >&2; }

wait_for() { # wait_for SECONDS COMMAND...: retry COMMAND until it succeeds or time runs out
    local tries=$(( $1 * 4 )); shift
    while (( tries-- > 0 )); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    return 1
}

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432; }

apt_updated=0
install_packages() { # install_packages WHAT PACKAGE...: apt-get install, as root only
    local what=$1; shift
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
    if (( ! apt_updated )); then
        timeout 180 apt-get update -qq >/dev/null 2>&1
        apt_updated=1
    fi
    if DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
        --no-install-recommends "$@" >/dev/null 2>&1; then
        say "installed $what (Debian packages: $*)"
        return 0
    fi
    say "$what could not be installed (apt-get install $*)"
    return 1
}

postgres_installed_here=0
if ! command -v pg_isready >/dev/null 2>&1 && install_packages PostgreSQL postgresql; then
    postgres_installed_here=1
    # Debian puts the client programs under /usr/lib/postgresql/VERSION/bin and links a few
    hash -r
fi
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

if ! command -v pg_isready >/dev/null 2>&1; then
    say "PostgreSQL: pg_isready not found; install PostgreSQL (make test does, as root on Debian) or set CLAIMS_TEST_POSTGRES_URL"
    problems=1
elif postgres_up; then
    :
else
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$version" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        say "PostgreSQL is not running on 127.0.0.1:5432 and no cluster under /etc/postgresql to start"
        problems=1
    elif ! pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 \
        || ! wait_for 30 postgres_up; then
        say "PostgreSQL $version could not be started (pg_ctlcluster $version main start)"
        problems=1
    else
        say "started PostgreSQL $version"
    fi
fi

# A PostgreSQL this script installed: the tests connect as postgres over 127.0.0.1 to `test`.
if (( postgres_installed_here )) && postgres_up; then
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    if [ -f "$hba" ] && ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
        pg_ctlcluster --skip-systemctl-redirect "$version" main reload >&2
    fi
    if ! su postgres -c "psql -qAtc \"SELECT 1 FROM pg_database WHERE datname = 'test'\"" \
        | grep -q 1; then
        su postgres -c "createdb test" && say "created the database test"
    fi
fi

if ! command -v redis-server >/dev/null 2>&1 && ! redis_up 2>/dev/null; then
    install_packages Redis redis-server && hash -r
fi
if ! command -v redis-cli >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then
    redis_up 2>/dev/null || { say "Redis: redis-server / redis-cli not found"; problems=1; }
elif redis_up; then
    :
elif ! redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >&2 \
    || ! wait_for 15 redis_up; then
    say "Redis could not be started on 127.0.0.1:6379"
    problems=1
else
    say "started Redis"
fi

# promtool checks deploy/prometheus/alerts.yml (tests/unit/test_deploy.py); Debian's prometheus
# package has it. Without it the test checks the rule file's schema only.
if ! command -v promtool >/dev/null 2>&1; then
    install_packages promtool prometheus \
        || say "no promtool: alert rules are checked by their schema only"
fi

# Chromium for the portal's browser tests (tests/browser): Debian's package, which Playwright
# for Python launches by its path (Playwright's own browser download is not used).
chromium_path="${CLAIMS_TEST_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium_path" ]; then
    install_packages Chromium chromium fonts-dejavu-core || true
fi
if [ ! -x "$chromium_path" ]; then
    say "Chromium: $chromium_path not found (apt-get install chromium, or set CLAIMS_TEST_CHROMIUM)"
    problems=1
fi

if (( problems )); then
    if [ -n "${CI:-}" ]; then
        say "CI is set: the integration tests need these services"
        exit 1
    fi
    say "integration tests that need a missing service will be skipped"
fi
exit 0
