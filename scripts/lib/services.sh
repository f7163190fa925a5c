#!/usr/bin/env bash
# Installs (on Debian/Ubuntu, with apt-get) and starts the services the
# platform and its tests need: PostgreSQL, Redis and Azurite, plus the Go
# toolchain and Node.js. Source this file; do not run it. Each function is
# safe to call again: it only acts on what is missing.

# shellcheck source=tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=""
apt_install() {
  command -v apt-get >/dev/null || { log "apt-get not found: install $* by hand"; return 1; }
  if [[ -z "$APT_UPDATED" ]]; then
    as_root apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >&2
}

# ensure_go makes sure a Go toolchain is on PATH. The toolchain named in
# go.mod is then fetched by Go itself (GOTOOLCHAIN=auto) through the module proxy.
ensure_go() {
  if ! command -v go >/dev/null; then
    if [[ -x /usr/local/go/bin/go ]]; then
      export PATH="/usr/local/go/bin:$PATH"
    else
      apt_install golang-go
    fi
  fi
  export PATH="$(go env GOPATH)/bin:$PATH"
  export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
}

ensure_node() {
  command -v node >/dev/null && command -v npm >/dev/null && return 0
  apt_install nodejs npm
}

# ensure_postgres starts PostgreSQL on 127.0.0.1:5432 and sets DATABASE_ADMIN_URL
# to a superuser URL that works over TCP.
ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null && ! command -v pg_ctl >/dev/null; then
    apt_install postgresql
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [[ -n "$version" ]] || { log "no PostgreSQL cluster found in /etc/postgresql"; return 1; }
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 ||
      as_root pg_ctlcluster "$version" main start >&2
    for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  fi
  # Debian's default pg_hba.conf requires a password over TCP, so give the
  # postgres superuser a local-only one when trust is not configured.
  DATABASE_ADMIN_URL="${DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
  if ! psql "$DATABASE_ADMIN_URL" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    log "setting a local password for the postgres role"
    as_root su postgres -c "psql -qc \"ALTER ROLE postgres PASSWORD 'postgres'\"" >&2
    DATABASE_ADMIN_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable"
    psql "$DATABASE_ADMIN_URL" -qAtc 'SELECT 1' >/dev/null || { log "cannot connect to PostgreSQL as postgres"; return 1; }
  fi
  export DATABASE_ADMIN_URL
}

# ensure_database NAME creates the database if it is missing and prints its URL.
ensure_database() {
  local name=$1
  if [[ "$(psql "$DATABASE_ADMIN_URL" -qAtc "SELECT 1 FROM pg_database WHERE datname = '$name'")" != 1 ]]; then
    psql "$DATABASE_ADMIN_URL" -qc "CREATE DATABASE $name" >&2
  fi
  echo "${DATABASE_ADMIN_URL/\/postgres\?//$name?}"
}

ensure_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >&2
    for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
}

# ensure_azurite installs the pinned Azurite from npm and starts its Blob
# service on 127.0.0.1:10000, keeping data under .azurite.
ensure_azurite() {
  ensure_node
  if (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null; then return 0; fi
  local dir
  dir=$(npm_tool azurite "azurite@$AZURITE_VERSION") || return 1
  local data="$TOOLS_DIR/../.azurite"
  mkdir -p "$data"
  log "starting Azurite (Blob) on 127.0.0.1:10000"
  nohup "$dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort 10000 \
    --location "$data" --skipApiVersionCheck --loose >"$data/azurite.log" 2>&1 &
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null && return 0
    sleep 0.1
  done
  log "Azurite did not start; see $data/azurite.log"
  return 1
}
