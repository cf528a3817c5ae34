// Checks a masa-proof/v1 record proof in the browser, link by link: the row's leaf to its
// batch's rows_root (RFC 6962 inclusion), the batch's manifest to its log entry (SHA-256),
// the log entry to the checkpoint's root (RFC 6962 inclusion), and the checkpoint's ed25519
// signature (a C2SP signed note). The manifest's own signature is checked by
// `masa verify-proof`; here the manifest is bound by the signed log instead.
"use strict";

const proofs = (() => {
  const enc = new TextEncoder();
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const unhex = (s) => {
    if (!/^([0-9a-f]{2})*$/i.test(s)) throw new Error(`${JSON.stringify(s)} is not hex`);
    return Uint8Array.from(s.match(/../g) || [], (h) => parseInt(h, 16));
  };
  const unbase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
  const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));
  const equal = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

  // RFC 9162 2.1.3.2: the root an inclusion path leads to from leaf `index` of `size`.
  async function rootFrom(leaf, index, size, path) {
    if (index >= size) throw new Error(`leaf ${index} is outside a tree of ${size}`);
    let fn = BigInt(index), sn = BigInt(size) - 1n, r = leaf;
    for (const p of path) {
      if (sn === 0n) throw new Error("the path is longer than the tree is deep");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) {
            fn >>= 1n;
            sn >>= 1n;
          }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) throw new Error("the path is shorter than the tree is deep");
    return r;
  }

  // A row leaf: the domain, then length-prefixed fields (record_id first).
  const ROW_DOMAIN = enc.encode("masa/row/v2");
  function leafRecordId(data) {
    if (!equal(data.subarray(0, ROW_DOMAIN.length), ROW_DOMAIN)) throw new Error("not a row leaf");
    const view = new DataView(data.buffer, data.byteOffset + ROW_DOMAIN.length);
    const len = Number(view.getBigUint64(0));
    const start = ROW_DOMAIN.length + 8;
    return new TextDecoder().decode(data.subarray(start, start + len));
  }

  // A checkpoint note: origin, size, base64 root, a blank line, "— name base64(keyhash ‖ sig)".
  async function openCheckpoint(note) {
    const split = note.indexOf("\n\n");
    if (split < 0) throw new Error("the checkpoint has no signature block");
    const body = note.slice(0, split + 1);
    const [origin, size, root] = body.split("\n");
    if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new Error("the checkpoint's size is not a number");
    const signers = [];
    for (const line of note.slice(split + 2).split("\n").filter((l) => l)) {
      const m = /^\u2014 (masa\+([0-9a-f]{64})) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (!m) continue;
      const [, name, keyHex, b64] = m;
      const blob = unbase64(b64);
      const key = unhex(keyHex);
      const id = (await sha256(concat(enc.encode(name), enc.encode("\n\x01"), key))).subarray(0, 4);
      if (blob.length !== 68 || !equal(blob.subarray(0, 4), id)) {
        throw new Error(`the signature of ${name} names another key`);
      }
      if (!(await ed25519.verify(key, enc.encode(body), blob.subarray(4)))) {
        throw new Error(`the checkpoint's signature by ${keyHex.slice(0, 16)}… does not verify`);
      }
      signers.push(keyHex);
    }
    if (!signers.length) throw new Error("the checkpoint has no masa signature");
    return { origin, size: Number(size), root: unbase64(root), signers };
  }

  /** Verifies `p`; resolves to what it shows, or rejects with the first link that fails. */
  async function verify(p) {
    if (p.format !== "masa-proof/v1") throw new Error(`unknown proof format ${p.format}`);
    const cp = await openCheckpoint(p.checkpoint);
    if (cp.origin !== p.origin) throw new Error("the checkpoint is of another log");
    const manifest = JSON.parse(p.manifest_json).manifest;
    const rowData = unhex(p.row_leaf_data);
    if (leafRecordId(rowData) !== p.record_id) throw new Error("the row leaf is another record's");
    if (p.row_count !== manifest.rows) throw new Error("the row count is not the manifest's");
    const rowsRoot = await rootFrom(
      await leafHash(rowData), p.row_index, p.row_count, p.row_path.map(unhex));
    if (hex(rowsRoot) !== manifest.rows_root) {
      throw new Error("the row's path does not lead to its batch's rows_root");
    }
    const entry = JSON.parse(p.log_entry);
    const manifestHash = hex(await sha256(enc.encode(p.manifest_json)));
    if (entry.manifest_sha256 !== manifestHash || entry.batch_id !== manifest.batch_id) {
      throw new Error("the log entry is not this batch's manifest");
    }
    const logRoot = await rootFrom(
      await leafHash(enc.encode(p.log_entry)), p.log_index, cp.size, p.log_path.map(unhex));
    if (!equal(logRoot, cp.root)) {
      throw new Error("the log path does not lead to the signed checkpoint's root");
    }
    return {
      batch: manifest.batch_id, row: p.row_index, logIndex: p.log_index,
      logSize: cp.size, root: hex(cp.root), signers: cp.signers,
    };
  }

  return { verify };
})();
