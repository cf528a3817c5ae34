"""Reads a Delta table with the Python `deltalake` package (an outside reader) and prints
its rows as JSON, sorted by record_id. Usage: read_delta.py TABLE_URI [KEY=VALUE ...]"""
import json
import sys

from deltalake import DeltaTable

uri = sys.argv[1]
options = dict(arg.split("=", 1) for arg in sys.argv[2:])
table = DeltaTable(uri, storage_options=options or None)
rows = table.to_pyarrow_table(
    columns=["record_id", "content_hash", "uri", "text", "contributor", "batch_id", "row_in_batch", "source"]
).to_pylist()
rows.sort(key=lambda r: r["record_id"])
json.dump({"version": table.version(), "rows": rows}, sys.stdout)
sys.stdout.flush()
# Leave without interpreter teardown: deltalake's native threads can abort the process
# ("terminate called without an active exception") while Python finalizes, after the
# output is complete; that is not a reading failure.
import os

os._exit(0)
