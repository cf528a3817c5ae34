// Ed25519 signature verification (RFC 8032, section 5.1.7), written for the explorer from the
// RFC's definitions, with BigInt arithmetic. It checks [S]B = R + [k]A for k = SHA-512(R || A
// || M) mod L; SHA-512 comes from WebCrypto. Only verification: the page holds no secret.
"use strict";

const ed25519 = (() => {
  const P = 2n ** 255n - 19n;
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const mod = (a, m = P) => {
    const r = a % m;
    return r >= 0n ? r : r + m;
  };
  const pow = (b, e, m = P) => {
    let r = 1n;
    b = mod(b, m);
    while (e > 0n) {
      if (e & 1n) r = (r * b) % m;
      b = (b * b) % m;
      e >>= 1n;
    }
    return r;
  };
  const inv = (a) => pow(a, P - 2n);
  const D = mod(-121665n * inv(121666n));
  const SQRT_M1 = pow(2n, (P - 1n) / 4n);

  // Points in extended homogeneous coordinates [X, Y, Z, T]: x = X/Z, y = Y/Z, xy = T/Z.
  // The addition formula of RFC 8032 5.1.4 is complete: it also doubles.
  const add = (p, q) => {
    const a = mod((p[1] - p[0]) * (q[1] - q[0]));
    const b = mod((p[1] + p[0]) * (q[1] + q[0]));
    const c = mod(2n * D * p[3] * q[3]);
    const d = mod(2n * p[2] * q[2]);
    const e = b - a, f = d - c, g = d + c, h = b + a;
    return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
  };
  const IDENTITY = [0n, 1n, 1n, 0n];
  const mul = (s, p) => {
    let q = IDENTITY;
    while (s > 0n) {
      if (s & 1n) q = add(q, p);
      p = add(p, p);
      s >>= 1n;
    }
    return q;
  };

  const le = (bytes) => {
    let n = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
    return n;
  };
  const encode = (p) => {
    const zi = inv(p[2]);
    const x = mod(p[0] * zi), y = mod(p[1] * zi);
    const out = new Uint8Array(32);
    let v = y;
    for (let i = 0; i < 32; i++) {
      out[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    out[31] |= Number(x & 1n) << 7;
    return out;
  };
  // Decoding (RFC 8032 5.1.3): y, then x from x^2 = (y^2 - 1) / (d y^2 + 1) and its sign bit.
  const decode = (bytes) => {
    if (bytes.length !== 32) return null;
    const sign = bytes[31] >> 7;
    const copy = Uint8Array.from(bytes);
    copy[31] &= 0x7f;
    const y = le(copy);
    if (y >= P) return null;
    const y2 = mod(y * y);
    const x2 = mod((y2 - 1n) * inv(mod(D * y2 + 1n)));
    if (x2 === 0n) return sign ? null : [0n, y, 1n, 0n];
    let x = pow(x2, (P + 3n) / 8n);
    if (mod(x * x - x2) !== 0n) x = mod(x * SQRT_M1);
    if (mod(x * x - x2) !== 0n) return null;
    if (Number(x & 1n) !== sign) x = P - x;
    return [x, y, 1n, mod(x * y)];
  };
  const BY = mod(4n * inv(5n));
  const BASE = decode((() => {
    const b = new Uint8Array(32);
    let v = BY;
    for (let i = 0; i < 32; i++) {
      b[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return b;
  })());

  const equal = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

  /** True when `sig` (64 bytes) is `publicKey`'s (32 bytes) signature of `message`. */
  async function verify(publicKey, message, sig) {
    if (publicKey.length !== 32 || sig.length !== 64) return false;
    const a = decode(publicKey);
    const r = decode(sig.subarray(0, 32));
    if (!a || !r) return false;
    const s = le(sig.subarray(32));
    if (s >= L) return false;
    const input = new Uint8Array(64 + message.length);
    input.set(sig.subarray(0, 32), 0);
    input.set(publicKey, 32);
    input.set(message, 64);
    const k = mod(le(new Uint8Array(await crypto.subtle.digest("SHA-512", input))), L);
    return equal(encode(mul(s, BASE)), encode(add(r, mul(k, a))));
  }

  return { verify };
})();
