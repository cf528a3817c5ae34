"""Runs trafilatura over the files named on stdin (one path per line) and prints JSON:
the extracted text of each file, in order, and the CPU seconds spent in extraction alone.
Used by the extraction benchmark (ingest/benches/extract.rs) as the reference extractor."""
import json
import sys
import time

import trafilatura

paths = [p for p in sys.stdin.read().splitlines() if p]
pages = [open(p, "rb").read() for p in paths]
texts = []
start = time.process_time()
for html in pages:
    out = trafilatura.extract(html, include_tables=True, include_comments=False)
    texts.append(out or "")
cpu = time.process_time() - start
json.dump({"texts": texts, "cpu_secs": cpu}, sys.stdout)
