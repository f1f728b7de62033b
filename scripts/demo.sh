#!/usr/bin/env bash
# The README's demo command: seed a realistic estate into a local moto_server, then show
# `autosub plan`, `autosub reconcile` and a second `autosub plan` (which should plan nothing).
set -euo pipefail
# Keep the demo readable: warnings only (autosub logs JSON at info when stderr is not a terminal).
export AUTOSUB_LOG="${AUTOSUB_LOG:-warn}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MOTO_PIN='moto[server]==5.2.1'
MOTO_BIN="${MOTO_SERVER:-moto_server}"

if ! command -v "${MOTO_BIN}" >/dev/null 2>&1; then
    echo "demo.sh: ${MOTO_BIN} not found; installing ${MOTO_PIN}" >&2
    python3 -m pip install --quiet "${MOTO_PIN}"
    hash -r
    if ! command -v "${MOTO_BIN}" >/dev/null 2>&1; then
        export PATH="$(python3 -m site --user-base)/bin:${PATH}"
    fi
fi

port_is_free() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
}

heading() {
    printf '\n==> %s\n\n' "$*"
}

if port_is_free 5000; then PORT=5000; else PORT="$(free_port)"; fi
ENDPOINT="http://127.0.0.1:${PORT}"
MOTO_LOG="$(mktemp -t autosub-demo-moto.XXXXXX.log)"

heading "starting moto_server on ${ENDPOINT} (log: ${MOTO_LOG})"
"${MOTO_BIN}" -H 127.0.0.1 -p "${PORT}" >"${MOTO_LOG}" 2>&1 &
MOTO_PID=$!
cleanup() {
    local rc=$?
    kill "${MOTO_PID}" 2>/dev/null || true
    wait "${MOTO_PID}" 2>/dev/null || true
    # Keep the moto log only when something failed.
    if [[ "${rc}" == 0 ]]; then rm -f "${MOTO_LOG}" "${AUTOSUB_LEDGER:-}"; fi
}
trap cleanup EXIT

ready=0
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
    if ! kill -0 "${MOTO_PID}" 2>/dev/null; then
        echo "demo.sh: moto_server exited early; log:" >&2
        cat "${MOTO_LOG}" >&2
        exit 1
    fi
    if python3 - "${ENDPOINT}" <<'PY' 2>/dev/null
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1).status == 200 else 1)
PY
    then
        ready=1
        break
    fi
    sleep 0.05
done
if [[ "${ready}" != 1 ]]; then
    echo "demo.sh: moto_server not ready on ${ENDPOINT} after 30 s; log:" >&2
    cat "${MOTO_LOG}" >&2
    exit 1
fi

heading "building autosub and the demo seeder"
cargo build --locked -p autosub -p autosub-testkit --bins

heading "seeding the demo estate"
target/debug/autosub-demo-seed --endpoint "${ENDPOINT}"

export AWS_ENDPOINT_URL="${ENDPOINT}"
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
# The ledger of this demo lives and dies with its emulator.
export AUTOSUB_LEDGER="${MOTO_LOG%.log}.ledger.json"

heading "autosub plan"
target/debug/autosub --config config/demo.toml plan

heading "autosub reconcile"
target/debug/autosub --config config/demo.toml reconcile

heading "autosub plan (again: expect no changes)"
target/debug/autosub --config config/demo.toml plan
