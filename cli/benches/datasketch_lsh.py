"""datasketch's MinHashLSH on the labeled set, streamed like masa's contribute path: each
document is queried, then inserted only if it matched nothing. Word shingles of NFKD-folded,
lowercased words with digit runs as "0", as masa folds them; by default word 5-grams in 14
bands x 8 rows (112 permutations, FineWeb's setting), or the words, bands and rows given.
MinHashLSH does not verify candidates: a shared band is a match. Prints {"kept": [ids],
"matched": [[removed id, id it matched]], "seconds": s} (signature + LSH time).
Usage: datasketch_lsh.py SET.jsonl [WORDS BANDS ROWS]"""
import json
import sys
import time
import unicodedata

from datasketch import MinHash, MinHashLSH


def words(text):
    out, word, digits = [], [], False
    for c in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(c):
            continue
        if c.isnumeric():
            if not digits:
                word.append("0")
                digits = True
        elif c.isalnum():
            digits = False
            word.append(c.lower())
        else:
            digits = False
            if word:
                out.append("".join(word))
                word = []
    if word:
        out.append("".join(word))
    return out


def shingles(text, n=5):
    w = words(text)
    if len(w) < n:
        return [" ".join(w).encode()]
    return [" ".join(w[i : i + n]).encode() for i in range(len(w) - n + 1)]


docs = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
n, bands, rows = (int(x) for x in sys.argv[2:5]) if len(sys.argv) >= 5 else (5, 14, 8)
perms = bands * rows
lsh = MinHashLSH(threshold=0.5, num_perm=perms, params=(bands, rows))
kept, matched = [], []
started = time.perf_counter()
for d in docs:
    m = MinHash(num_perm=perms)
    m.update_batch(shingles(d["text"], n))
    found = lsh.query(m)
    if found:
        matched.append([d["id"], found[0]])
    else:
        lsh.insert(d["id"], m)
        kept.append(d["id"])
seconds = time.perf_counter() - started
json.dump({"kept": kept, "matched": matched, "seconds": seconds}, sys.stdout)
