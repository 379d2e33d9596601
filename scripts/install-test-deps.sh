#!/usr/bin/env bash
# Installs what the end-to-end tests need, idempotently (a re-run skips what is already there):
#   - Debian's kcat (librdkafka 2.0.2: the old-client case) and chromium (the status-page test),
#   - Debian's Go and sarama 1.22 sources (tests/clients/test_sarama.py builds its Go program
#     offline, in GOPATH mode, against them),
#   - a Python venv at tests/clients/.venv with tests/clients/requirements.txt,
#   - kafkajs in tests/clients/node_modules from the committed package-lock.json.
# Needs root (or sudo) for apt-get only when one of the Debian packages is missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
clients="$root/tests/clients"
venv="$clients/.venv"

log() { printf 'install-test-deps: %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
apt_packages=(kcat python3-venv chromium golang-go golang-github-shopify-sarama-dev)
missing=()
for pkg in "${apt_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
    log "apt-get install ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
else
    log "apt packages present: ${apt_packages[*]}"
fi
command -v kcat >/dev/null || { log "kcat not on PATH after install"; exit 1; }
command -v go >/dev/null || { log "go not on PATH after install"; exit 1; }

# --- Python venv -----------------------------------------------------------------------------
# A stamp holding the requirements' hash makes a re-run a no-op until requirements.txt changes.
req="$clients/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "python venv up to date"
else
    if [[ ! -x "$venv/bin/python" ]]; then
        python="${PYTHON:-python3}"
        log "creating venv with $($python --version 2>&1)"
        "$python" -m venv "$venv"
    fi
    log "pip install -r requirements.txt"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
fi

# --- Node (kafkajs) --------------------------------------------------------------------------
lock="$clients/package-lock.json"
nstamp="$clients/node_modules/.lock.sha256"
nwant="$(sha256sum "$lock" | cut -d' ' -f1)"
if [[ -f "$nstamp" && "$(cat "$nstamp")" == "$nwant" ]]; then
    log "node_modules up to date"
else
    command -v npm >/dev/null || { log "npm not found (install Node.js >= 18)"; exit 1; }
    log "npm ci"
    (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$nwant" >"$nstamp"
fi

log "done"
