"""Helper of scripts/bench-custodian.sh: seeds the moto estate, drives moto's request recorder,
classifies the recorded requests and renders the comparison table.

Only talks to the moto_server on loopback whose endpoint it is given. Subcommands:

  free-port                              print a free 127.0.0.1 TCP port
  age-ledger LEDGER.json SECS            move an autosub file ledger's timestamps SECS back
  wait-ready ENDPOINT SECONDS            wait until moto answers GET /moto-api/
  seed ENDPOINT N                        the estate; prints the forwarder's ARN
  strip-filters ENDPOINT NAME            delete the subscription filters called NAME (app-* groups)
  recorder ENDPOINT start|stop|reset     moto's recorder
  recorder ENDPOINT download FILE        moto's recording (JSON lines) into FILE
  count RECORDING OUT.json [AUTOSUB.json]  classify a recording; cross-check autosub's aws_calls
  check RESULTS_DIR N                    warn on stderr when a run did not do what it should
  table RESULTS_DIR N C7N_VERSION [OUT.md]  print (and write) the markdown table
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import sys
import time
import urllib.parse
import urllib.request
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
FORWARDER = "datadog-forwarder"
ROLE = "bench-lambda-role"
APP_PREFIX = "app-"
LOG_GROUP_PREFIX = "/aws/lambda/app-"

# Writes are counted by operation-name prefix, as the brief defines them.
WRITE_PREFIXES = ("Put", "Create", "Delete", "Add", "Remove", "Update")


# --- moto plumbing ---------------------------------------------------------------------------


def free_port() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def wait_ready(endpoint: str, seconds: str) -> None:
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"moto_server not ready on {endpoint} after {seconds} s")


def recorder(endpoint: str, verb: str, out: str | None = None) -> None:
    path = {
        "start": "start-recording",
        "stop": "stop-recording",
        "reset": "reset-recording",
        "download": "download-recording",
    }[verb]
    method = "GET" if verb == "download" else "POST"
    req = urllib.request.Request(f"{endpoint}/moto-api/recorder/{path}", method=method)
    with urllib.request.urlopen(req, timeout=60) as r:
        body = r.read()
    if verb == "download":
        with open(out, "wb") as f:
            f.write(body)


def clients(endpoint: str):
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
    )
    # Pool size above the worker count; no retries so a moto error surfaces at once.
    config = Config(max_pool_connections=16, retries={"max_attempts": 1, "mode": "standard"})
    return {
        name: session.client(name, endpoint_url=endpoint, config=config)
        for name in ("iam", "lambda", "logs")
    }


def trivial_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def seed(endpoint: str, n: str) -> None:
    n = int(n)
    c = clients(endpoint)
    role_arn = c["iam"].create_role(
        RoleName=ROLE,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    code = trivial_zip()

    def create_function(name: str) -> str:
        return c["lambda"].create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role_arn,
            Handler="index.handler",
            Code={"ZipFile": code},
        )["FunctionArn"]

    forwarder_arn = create_function(FORWARDER)
    # The forwarder's resource policy lets CloudWatch Logs invoke it (as the Datadog template does).
    c["lambda"].add_permission(
        FunctionName=FORWARDER,
        StatementId="datadog-forwarder-logs-invoke",
        Action="lambda:InvokeFunction",
        Principal="logs.amazonaws.com",
    )

    def app(i: int) -> None:
        name = f"{APP_PREFIX}{i:04d}"
        create_function(name)
        c["logs"].create_log_group(logGroupName=f"/aws/lambda/{name}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(app, range(n)))
    print(forwarder_arn)


def strip_filters(endpoint: str, filter_name: str) -> None:
    logs = clients(endpoint)["logs"]
    groups = [
        g["logGroupName"]
        for page in logs.get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix=LOG_GROUP_PREFIX
        )
        for g in page["logGroups"]
    ]

    def strip(group: str) -> int:
        names = [
            f["filterName"]
            for f in logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
        ]
        if filter_name in names:
            logs.delete_subscription_filter(logGroupName=group, filterName=filter_name)
            return 1
        return 0

    with ThreadPoolExecutor(max_workers=8) as pool:
        deleted = sum(pool.map(strip, groups))
    print(f"deleted {deleted} subscription filters named {filter_name!r}", file=sys.stderr)


# --- classifying recorded requests -------------------------------------------------------------

# Lambda is a REST protocol: the operation is the method plus the path's shape.
LAMBDA_ROUTES = [
    ("GET", r"/2015-03-31/functions/?", "ListFunctions"),
    ("POST", r"/2015-03-31/functions/?", "CreateFunction"),
    ("GET", r"/2015-03-31/functions/[^/]+/?", "GetFunction"),
    ("DELETE", r"/2015-03-31/functions/[^/]+/?", "DeleteFunction"),
    ("GET", r"/2015-03-31/functions/[^/]+/configuration/?", "GetFunctionConfiguration"),
    ("PUT", r"/2015-03-31/functions/[^/]+/configuration/?", "UpdateFunctionConfiguration"),
    ("PUT", r"/2015-03-31/functions/[^/]+/code/?", "UpdateFunctionCode"),
    ("GET", r"/2015-03-31/functions/[^/]+/policy/?", "GetPolicy"),
    ("POST", r"/2015-03-31/functions/[^/]+/policy/?", "AddPermission"),
    ("DELETE", r"/2015-03-31/functions/[^/]+/policy/[^/]+/?", "RemovePermission"),
    ("GET", r"/2015-03-31/functions/[^/]+/versions/?", "ListVersionsByFunction"),
    ("GET", r"/2015-03-31/functions/[^/]+/aliases/?", "ListAliases"),
    ("GET", r"/2015-03-31/event-source-mappings/?", "ListEventSourceMappings"),
    ("GET", r"/2017-03-31/tags/.+", "ListTags"),
    ("POST", r"/2017-03-31/tags/.+", "TagResource"),
    ("DELETE", r"/2017-03-31/tags/.+", "UntagResource"),
    ("GET", r"/20\d\d-\d\d-\d\d/account-settings/?", "GetAccountSettings"),
]


# S3 bucket sub-resources, path-style: (method, first query key) -> operation.
S3_BUCKET_OPS = {
    ("GET", "location"): "GetBucketLocation",
    ("GET", "logging"): "GetBucketLogging",
    ("GET", "notification"): "GetBucketNotificationConfiguration",
    ("PUT", "notification"): "PutBucketNotificationConfiguration",
    ("GET", "tagging"): "GetBucketTagging",
    ("GET", "policy"): "GetBucketPolicy",
    ("HEAD", ""): "HeadBucket",
}


def header(headers: dict, name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return None


def service_of(req: dict) -> str:
    auth = header(req["headers"], "authorization") or ""
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request", auth)
    if m:
        return m.group(1)
    return urllib.parse.urlsplit(req["url"]).hostname or "?"


def body_text(req: dict) -> str:
    body = req.get("body") or ""
    if req.get("body_encoded"):
        try:
            return base64.b64decode(body).decode("utf-8", "replace")
        except ValueError:
            return ""
    return body


def operation_of(req: dict, service: str) -> str:
    target = header(req["headers"], "x-amz-target")
    if target:  # JSON protocols (logs, resourcegroupstaggingapi, ...)
        return target.rsplit(".", 1)[-1]
    url = urllib.parse.urlsplit(req["url"])
    m = re.fullmatch(r"/service/[^/]+/operation/([^/]+)", url.path)
    if m:  # Smithy RPC v2 (CBOR)
        return m.group(1)
    query = urllib.parse.parse_qs(url.query)
    if "Action" in query:  # query protocol, GET
        return query["Action"][0]
    form = urllib.parse.parse_qs(body_text(req))
    if "Action" in form:  # query protocol, POST (sts, iam, ...)
        return form["Action"][0]
    if service == "lambda":
        for method, pattern, op in LAMBDA_ROUTES:
            if req["method"] == method and re.fullmatch(pattern, url.path):
                return op
    if service == "s3":  # path style: /bucket?subresource
        subresource = url.query.split("=", 1)[0].split("&", 1)[0]
        if url.path.strip("/") == "":
            return {"GET": "ListBuckets"}.get(req["method"], f"{req['method']} /")
        if "/" not in url.path.strip("/"):
            op = S3_BUCKET_OPS.get((req["method"], subresource))
            if op:
                return op
    # Unknown REST call: name it by method and path shape, so it is still counted and visible.
    return f"{req['method']} {re.sub(r'/[^/]*[0-9:%][^/]*', '/{}', url.path)}"


def is_write(op: str) -> bool:
    if " " in op:  # unmapped REST call
        return not op.startswith(("GET ", "HEAD "))
    return op.startswith(WRITE_PREFIXES)


def count(recording: str, out: str, autosub_json: str | None = None) -> None:
    ops: Counter = Counter()
    with open(recording) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            req = json.loads(line)
            service = service_of(req)
            ops[(service, operation_of(req, service))] += 1
    total = sum(ops.values())
    writes = sum(n for (_, op), n in ops.items() if is_write(op))
    result = {
        "total": total,
        "reads": total - writes,
        "writes": writes,
        "describe_subscription_filters": ops[("logs", "DescribeSubscriptionFilters")],
        "put_subscription_filter": ops[("logs", "PutSubscriptionFilter")],
        "by_operation": [
            {"service": s, "operation": o, "count": n, "write": is_write(o)}
            for (s, o), n in sorted(ops.items())
        ],
    }
    result["other_writes"] = writes - result["put_subscription_filter"]
    if autosub_json:
        result["self_reported"] = autosub_self_count(autosub_json)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    summary = ", ".join(f"{s}:{o}={n}" for (s, o), n in sorted(ops.items()))
    print(f"  moto saw {total} requests ({writes} writes): {summary}", file=sys.stderr)


def autosub_self_count(path: str) -> int | None:
    """autosub's own count of its AWS calls: `aws_calls.total` of `reconcile -o json`."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    calls = doc.get("aws_calls") if isinstance(doc, dict) else None
    if not isinstance(calls, dict):
        return None
    if isinstance(calls.get("total"), int):
        return calls["total"]
    rows = calls.get("by_operation") or []
    return sum(int(r.get("count", 0)) for r in rows) if rows else None


# --- the table ---------------------------------------------------------------------------------

RUNS = [
    ("Cloud Custodian", "first (converging)", "custodian-first"),
    ("Cloud Custodian", "no-op", "custodian-noop"),
    ("autosub", "first (converging)", "autosub-first"),
    ("autosub", "no-op", "autosub-noop"),
]


def load(results_dir: str) -> dict:
    res = {}
    for _, _, key in RUNS:
        with open(os.path.join(results_dir, f"{key}.json")) as f:
            res[key] = json.load(f)
    return res


def check(results_dir: str, n: str) -> None:
    """Warnings only: the benchmark measures whatever the tools do, but says when it looks off."""
    n = int(n)
    res = load(results_dir)
    expect = [
        ("custodian-first", "put_subscription_filter", n),
        ("autosub-first", "put_subscription_filter", n),
        ("autosub-noop", "writes", 0),
    ]
    for key, field, want in expect:
        got = res[key][field]
        if got != want:
            print(f"warning: {key}: {field} = {got}, expected {want}", file=sys.stderr)
    for key in ("autosub-first", "autosub-noop"):
        own, moto = res[key].get("self_reported"), res[key]["total"]
        if own != moto:
            print(
                f"note: {key}: autosub counted {own} AWS calls, moto served {moto} requests",
                file=sys.stderr,
            )


def table(results_dir: str, n: str, c7n_version: str, out: str | None = None) -> None:
    res = load(results_dir)
    base = res["custodian-noop"]["total"]
    lines = [
        f"AWS calls of one pass over N={int(n)} Lambda log groups (moto 5.2.1, us-east-1), "
        f"counted by moto's request recorder; Cloud Custodian c7n {c7n_version}.",
        "",
        "| tool | run | total calls | DescribeSubscriptionFilters | PutSubscriptionFilter "
        "| other writes | tool's own count | total / custodian no-op |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, run, key in RUNS:
        r = res[key]
        own = r.get("self_reported")
        own = "—" if own is None else f"{own:,}"
        ratio = f"{r['total'] / base:.2f}" if base else "—"
        lines.append(
            f"| {tool} | {run} | {r['total']:,} | {r['describe_subscription_filters']:,} "
            f"| {r['put_subscription_filter']:,} | {r['other_writes']:,} | {own} | {ratio} |"
        )
    noop = res["autosub-noop"]["total"]
    lines += [
        "",
        f"autosub no-op / custodian no-op = {noop:,} / {base:,} = "
        + (f"{noop / base:.2f}" if base else "—"),
    ]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if out:
        with open(out, "w") as f:
            f.write(text)


def age_ledger(path: str, secs: str) -> None:
    """Moves every timestamp of an autosub file ledger `secs` seconds into the past."""
    back = int(secs)
    with open(path) as f:
        doc = json.load(f)
    for target in doc["targets"].values():
        if "last_pass_at" in target:
            target["last_pass_at"] -= back
        for record in target.get("verified", {}).values():
            record["seen_at"] -= back
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)


def main(argv: list[str]) -> None:
    commands = {
        "age-ledger": age_ledger,
        "free-port": free_port,
        "wait-ready": wait_ready,
        "seed": seed,
        "strip-filters": strip_filters,
        "recorder": recorder,
        "count": count,
        "check": check,
        "table": table,
    }
    if len(argv) < 2 or argv[1] not in commands:
        sys.exit(__doc__)
    commands[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
