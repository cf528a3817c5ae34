"""datasketch's MinHashLSH on the labeled set, streamed like masa's contribute path: each
document is queried, then inserted only if it matched nothing. Same settings as masa: word
5-gram shingles of NFKD-folded, lowercased words with digit runs as "0", 112 permutations as
14 bands x 8 rows, threshold 0.7. Prints {"kept": [ids], "matched": [[removed id, id it matched]], "seconds": s}
(signature + LSH time).
Usage: datasketch_lsh.py SET.jsonl"""
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
lsh = MinHashLSH(threshold=0.7, num_perm=112, params=(14, 8))
kept, matched = [], []
started = time.perf_counter()
for d in docs:
    m = MinHash(num_perm=112)
    m.update_batch(shingles(d["text"]))
    found = lsh.query(m)
    if found:
        matched.append([d["id"], found[0]])
    else:
        lsh.insert(d["id"], m)
        kept.append(d["id"])
seconds = time.perf_counter() - started
json.dump({"kept": kept, "matched": matched, "seconds": seconds}, sys.stdout)
