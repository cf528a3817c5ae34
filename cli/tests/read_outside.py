"""Reads a Delta table with two more outside readers, DuckDB (its `delta` extension) and
Polars (`read_delta`), and prints what each sees as JSON: {"duckdb": rows, "polars": rows},
rows of record_id, content_hash and text sorted by record_id.
Usage: read_outside.py TABLE_URI [KEY=VALUE ...] (the AWS_* settings for an S3 table).

DuckDB's extensions come from their wheels (duckdb-extension-delta, -httpfs) and are loaded
by path with automatic install and load off, so nothing is downloaded."""
import json
import os
import sys

import duckdb
import duckdb_extension_delta
import duckdb_extension_httpfs
import polars as pl

uri = sys.argv[1]
options = dict(arg.split("=", 1) for arg in sys.argv[2:])
COLUMNS = ["record_id", "content_hash", "text"]


def extension(module, name):
    folder = os.path.join(os.path.dirname(module.__file__), "extensions")
    version = sorted(os.listdir(folder))[-1]
    return os.path.join(folder, version, name + ".duckdb_extension")


con = duckdb.connect(
    config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
)
con.execute(f"LOAD '{extension(duckdb_extension_httpfs, 'httpfs')}'")
con.execute(f"LOAD '{extension(duckdb_extension_delta, 'delta')}'")
if uri.startswith("s3://"):
    endpoint = options["AWS_ENDPOINT_URL"]
    scheme, host = endpoint.split("://", 1)
    con.execute(
        "CREATE SECRET (TYPE s3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, URL_STYLE 'path', USE_SSL ?)",
        [
            options["AWS_ACCESS_KEY_ID"],
            options["AWS_SECRET_ACCESS_KEY"],
            options.get("AWS_REGION", "us-east-1"),
            host,
            scheme == "https",
        ],
    )
duck = [
    dict(zip(COLUMNS, row))
    for row in con.execute(
        f"SELECT {', '.join(COLUMNS)} FROM delta_scan(?) ORDER BY record_id", [uri]
    ).fetchall()
]

storage = {k.lower(): v for k, v in options.items()}
frame = pl.read_delta(uri, storage_options=storage or None, columns=COLUMNS)
polars_rows = sorted(frame.to_dicts(), key=lambda r: r["record_id"])

json.dump({"duckdb": duck, "polars": polars_rows}, sys.stdout)
sys.stdout.flush()
# As read_delta.py: leave without interpreter teardown (native threads of the readers).
os._exit(0)
