#!/usr/bin/env bash
# Benchmark: the AWS calls of Cloud Custodian and of autosub, side by side, on one moto estate.
#
#   scripts/bench-custodian.sh [N] [OUT.md]      (N defaults to 1000)
#
# Seeds a local moto_server (us-east-1, account 123456789012) with a forwarder Lambda
# `datadog-forwarder` whose resource policy lets logs.amazonaws.com invoke it, and N Lambda
# functions app-0000… each with its log group /aws/lambda/app-NNNN. Then, counting every request
# with moto's request recorder (reset between runs):
#   1. Cloud Custodian (c7n): a `log-group` policy, name glob /aws/lambda/app-*, action
#      put-subscription-filter (filter "custodian" -> the forwarder): a first run (converging)
#      and a second one (the no-op run). Its resource cache is off (--cache-period 0), as for a
#      scheduled run in a fresh container; with the default 15-minute cache a second run within
#      15 minutes would skip DescribeLogGroups/GetResources and still rewrite every filter.
#   2. custodian's filters are deleted again (not recorded): autosub adopts any filter that already
#      delivers to the forwarder, so on the estate custodian subscribed it would write nothing.
#   3. autosub (release build, only services.lambda): `reconcile -o json` twice, converging and
#      no-op, the ledger aged by 15 minutes in between (the no-op pass is the next scheduled one:
#      its audit re-reads 1/96 of the window's share); its own `aws_calls.total` is shown next to
#      moto's count as a cross-check.
# Custodian runs first because moto wrongly refuses to update a filter by name on a group that
# already has two, which the reverse order would hit.
# Prints one markdown table (and writes it to OUT.md when given). Everything it needs is installed
# into target/bench-custodian-venv (c7n, boto3, moto[server]); the only network used is loopback
# and the package registries. About a minute at N=1000, plus the release build.
set -euo pipefail
CALLER_DIR="$(pwd)"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

N="${1:-1000}"
OUT="${2:-}"
[[ "${N}" =~ ^[1-9][0-9]*$ ]] && ((N <= 9999)) || {
    echo "usage: scripts/bench-custodian.sh [N (1..9999, default 1000)] [OUT.md]" >&2
    exit 2
}
[[ -z "${OUT}" || "${OUT}" = /* ]] || OUT="${CALLER_DIR}/${OUT}"

C7N_PIN='c7n==0.9.53'
MOTO_PIN='moto[server]==5.2.1'
VENV="${ROOT}/target/bench-custodian-venv"
HELPER="${ROOT}/scripts/bench_custodian.py"
FORWARDER=datadog-forwarder

say() { printf '==> %s\n' "$*" >&2; }

WORK="$(mktemp -d -t autosub-bench-custodian.XXXXXX)"
MOTO_PID=
cleanup() {
    local rc=$?
    if [[ -n "${MOTO_PID}" ]]; then
        kill "${MOTO_PID}" 2>/dev/null || true
        wait "${MOTO_PID}" 2>/dev/null || true
    fi
    if [[ "${rc}" == 0 ]]; then
        rm -rf "${WORK}"
    else
        echo "bench-custodian.sh: failed (exit ${rc}); logs and recordings kept in ${WORK}" >&2
    fi
}
trap cleanup EXIT

# --- 1. Python venv: c7n, boto3, moto ----------------------------------------------------------
if [[ ! -x "${VENV}/bin/python" ]]; then
    say "creating ${VENV}"
    python3 -m venv "${VENV}"
fi
PY="${VENV}/bin/python"
say "installing ${C7N_PIN}, boto3, ${MOTO_PIN} into ${VENV}"
if ! "${PY}" -m pip install --quiet --disable-pip-version-check "${C7N_PIN}" boto3 "${MOTO_PIN}"; then
    echo "bench-custodian.sh: ${C7N_PIN} did not install; trying the newest c7n 0.9.x" >&2
    "${PY}" -m pip install --quiet --disable-pip-version-check 'c7n>=0.9,<0.10' boto3 "${MOTO_PIN}"
fi
C7N_VERSION="$("${PY}" -c 'import importlib.metadata as m; print(m.version("c7n"))')"
say "c7n ${C7N_VERSION}, moto $("${PY}" -c 'import importlib.metadata as m; print(m.version("moto"))')," \
    "boto3 $("${PY}" -c 'import importlib.metadata as m; print(m.version("boto3"))')"

# --- 2. autosub, release build -----------------------------------------------------------------
say "building autosub (release)"
cargo build --release --locked -p autosub --bin autosub
AUTOSUB="${ROOT}/target/release/autosub"

# --- 3. moto_server with its recorder, and the estate ------------------------------------------
PORT="$("${PY}" "${HELPER}" free-port)"
ENDPOINT="http://127.0.0.1:${PORT}"
say "starting moto_server on ${ENDPOINT}"
env -u MOTO_ENABLE_RECORDING MOTO_RECORDER_FILEPATH="${WORK}/recording.jsonl" \
    "${VENV}/bin/moto_server" -H 127.0.0.1 -p "${PORT}" >"${WORK}/moto.log" 2>&1 &
MOTO_PID=$!
"${PY}" "${HELPER}" wait-ready "${ENDPOINT}" 30

# Both tools see only the emulator and dummy credentials, never a profile, IMDS or real AWS.
while read -r var; do unset "${var}"; done < <(compgen -e | grep -E '^(AWS_|AUTOSUB_)' || true)
export AWS_ENDPOINT_URL="${ENDPOINT}"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_CONFIG_FILE="${WORK}/no-aws-config" AWS_SHARED_CREDENTIALS_FILE="${WORK}/no-aws-credentials"
export AWS_EC2_METADATA_DISABLED=true
export AUTOSUB_LOG=warn

say "seeding ${N} Lambda functions and log groups"
FORWARDER_ARN="$("${PY}" "${HELPER}" seed "${ENDPOINT}" "${N}")"

# Runs the command after `--` with moto recording, then counts what moto saw into RESULT.json.
RESULTS="${WORK}/results"
mkdir -p "${RESULTS}"
measure() {
    local name="$1" self_report="$2"
    shift 3
    say "${name}: $*"
    "${PY}" "${HELPER}" recorder "${ENDPOINT}" reset
    "${PY}" "${HELPER}" recorder "${ENDPOINT}" start
    local rc=0
    "$@" >"${WORK}/${name}.out" 2>"${WORK}/${name}.err" || rc=$?
    "${PY}" "${HELPER}" recorder "${ENDPOINT}" stop
    "${PY}" "${HELPER}" recorder "${ENDPOINT}" download "${WORK}/${name}.jsonl"
    if [[ "${rc}" != 0 ]]; then
        echo "bench-custodian.sh: ${name} exited ${rc}; stderr:" >&2
        tail -n 30 "${WORK}/${name}.err" >&2
        exit 1
    fi
    "${PY}" "${HELPER}" count "${WORK}/${name}.jsonl" "${RESULTS}/${name}.json" ${self_report:+"${self_report}"}
}

# --- 4. Cloud Custodian ------------------------------------------------------------------------
cat >"${WORK}/custodian.yml" <<EOF
policies:
  - name: forward-lambda-logs
    resource: aws.log-group
    filters:
      - type: value
        key: logGroupName
        op: glob
        value: "/aws/lambda/app-*"
    actions:
      - type: put-subscription-filter
        filter_name: custodian
        filter_pattern: ""
        destination_arn: "${FORWARDER_ARN}"
EOF
"${VENV}/bin/custodian" validate "${WORK}/custodian.yml" 2>"${WORK}/custodian-validate.err" || {
    cat "${WORK}/custodian-validate.err" >&2
    exit 1
}
CUSTODIAN=("${VENV}/bin/custodian" run --region us-east-1 -s "${WORK}/custodian-out"
    --cache-period 0 -f "${WORK}/c7n.cache" "${WORK}/custodian.yml")
measure custodian-first "" -- "${CUSTODIAN[@]}"
measure custodian-noop "" -- "${CUSTODIAN[@]}"

say "deleting custodian's filters (not recorded) so autosub starts from the same fresh estate"
"${PY}" "${HELPER}" strip-filters "${ENDPOINT}" custodian

# --- 5. autosub --------------------------------------------------------------------------------
CONFIG="${WORK}/autosub.toml"
cat >"${CONFIG}" <<EOF
[aws]
regions = ["us-east-1"]
endpoint_url = "${ENDPOINT}"
# moto answers DescribeAccountPolicies with a 500: one attempt, not ten with backoff.
max_attempts = 1

[forwarders]
us-east-1 = "${FORWARDER}"

[ownership]
filter_name = "autosub"

[ledger]
location = "${WORK}/autosub-ledger.json"

[services.lambda]
enabled = true
[services.s3_access_logs]
enabled = false
[services.cloudfront]
enabled = false
[services.elbv2]
enabled = false
[services.elb]
enabled = false
[services.redshift]
enabled = false
[services.step_functions]
enabled = false
[services.wafv2]
enabled = false
[services.api_gateway]
enabled = false
EOF
"${AUTOSUB}" -c "${CONFIG}" validate-config >/dev/null
measure autosub-first "${WORK}/autosub-first.out" -- "${AUTOSUB}" -c "${CONFIG}" reconcile -o json
# The no-op pass stands for the next scheduled one, 15 minutes later: the ledger's timestamps
# move back one tick, so the audit re-reads its share of a 15-minute schedule (not of the few
# seconds between the two commands).
"${PY}" "${HELPER}" age-ledger "${WORK}/autosub-ledger.json" 900
measure autosub-noop "${WORK}/autosub-noop.out" -- "${AUTOSUB}" -c "${CONFIG}" reconcile -o json

# --- 6. the table ------------------------------------------------------------------------------
"${PY}" "${HELPER}" check "${RESULTS}" "${N}"
echo
"${PY}" "${HELPER}" table "${RESULTS}" "${N}" "${C7N_VERSION}" ${OUT:+"${OUT}"}
