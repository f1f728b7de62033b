#!/usr/bin/env bash
# The README's test command: unit, moto-backed and end-to-end tests of the whole workspace.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MOTO_PIN='moto[server]==5.2.1'

# The moto-backed tests start moto_server themselves (crates/autosub-testkit); it must be on PATH
# (or named by $MOTO_SERVER).
if [[ -z "${MOTO_SERVER:-}" ]] && ! command -v moto_server >/dev/null 2>&1; then
    echo "test.sh: moto_server not found; installing ${MOTO_PIN}" >&2
    python3 -m pip install --quiet "${MOTO_PIN}"
    hash -r
    if ! command -v moto_server >/dev/null 2>&1; then
        # pip --user installs land in ~/.local/bin, which is not always on PATH.
        export PATH="$(python3 -m site --user-base)/bin:${PATH}"
    fi
    command -v moto_server >/dev/null 2>&1 || {
        echo "test.sh: moto_server still not on PATH after installing ${MOTO_PIN}" >&2
        exit 1
    }
fi

# The end-to-end tests run the built binary. Built with the tests, in one invocation, it shares
# their dependency builds: alone, `-p autosub` would resolve tokio without the tests'
# `test-util` feature and compile tokio and every AWS SDK crate a second time.
cargo build --locked --workspace --bins --tests
cargo test --workspace --locked
