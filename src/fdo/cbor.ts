import { FDO_ERROR, FdoError } from './errors.js';

/**
 * A strict, small CBOR codec for FDO messages.
 *
 * Hand-written rather than cbor2 because the rendezvous decodes every message on the hot path: cbor2 took
 * ~47 µs for a 120-byte EAT here, close to the cost of the P-256 verification itself.
 *
 * Decoded shapes: unsigned/negative integers → `number`, or `bigint` beyond ±(2^53−1); byte strings →
 * `Uint8Array` views into the input (do not mutate the input afterwards); text → `string`; arrays →
 * `unknown[]`; maps → `Map`; tags → `CborTag`; false/true/null; floats → `number`.
 *
 * Original bytes: bstr-wrapped items (OVHeader, entry payloads, to0d, …) are already raw bytes. For the other
 * places FDO hashes or forwards an item verbatim (the HMac array, a tagged OV entry, to1d) every decoded
 * array, map and tag remembers its exact input bytes: `originalBytes(item)`. `new CborRaw(bytes)` embeds
 * such bytes unchanged when encoding.
 */

/** A CBOR tag (major type 6) with its content, e.g. COSE_Sign1 = `new CborTag(18, [...])`. */
export class CborTag {
  constructor(
    readonly tag: number,
    readonly contents: unknown,
  ) {}
}

/** Already-encoded CBOR that `encodeCbor` copies through unchanged (byte-exact forwarding of to1d etc.). */
export class CborRaw {
  constructor(readonly bytes: Uint8Array) {}
}

const MAX_DEPTH = 32;
const RAW = Symbol('cbor.original');
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const UTF8_ENCODER = new TextEncoder();

// Non-enumerable so decoded values still compare equal to plain literals (assert.deepStrictEqual, tests).
function keepOriginal(item: object, bytes: Uint8Array): void {
  Object.defineProperty(item, RAW, { value: bytes });
}

function malformed(detail: string): FdoError {
  return new FdoError(FDO_ERROR.MESSAGE_BODY_ERROR, `malformed CBOR: ${detail}`);
}

class Decoder {
  pos = 0;
  private view: DataView | undefined;

  constructor(
    private readonly data: Uint8Array,
    private readonly keepsOriginals: boolean,
  ) {}

  /** Reads the argument of a head; returns a number when it is a safe integer, else a bigint. */
  private argument(ai: number): number | bigint {
    const d = this.data;
    const p = this.pos;
    if (ai < 24) return ai;
    if (ai === 24) {
      if (p + 1 > d.length) throw malformed('truncated head');
      this.pos = p + 1;
      return d[p] as number;
    }
    if (ai === 25) {
      if (p + 2 > d.length) throw malformed('truncated head');
      this.pos = p + 2;
      return ((d[p] as number) << 8) | (d[p + 1] as number);
    }
    if (ai === 26) {
      if (p + 4 > d.length) throw malformed('truncated head');
      this.pos = p + 4;
      return (
        (d[p] as number) * 0x1000000 +
        (((d[p + 1] as number) << 16) | ((d[p + 2] as number) << 8) | (d[p + 3] as number))
      );
    }
    if (ai === 27) {
      if (p + 8 > d.length) throw malformed('truncated head');
      this.pos = p + 8;
      const hi =
        (d[p] as number) * 0x1000000 +
        (((d[p + 1] as number) << 16) | ((d[p + 2] as number) << 8) | (d[p + 3] as number));
      const lo =
        (d[p + 4] as number) * 0x1000000 +
        (((d[p + 5] as number) << 16) | ((d[p + 6] as number) << 8) | (d[p + 7] as number));
      if (hi < 0x200000) return hi * 0x100000000 + lo;
      return (BigInt(hi) << 32n) | BigInt(lo);
    }
    throw malformed(ai === 31 ? 'indefinite length' : `reserved additional info ${ai}`);
  }

  /** A length or count: must fit in the bytes left, so a forged size never allocates. */
  private length(ai: number, minItemBytes: number): number {
    const n = this.argument(ai);
    if (typeof n === 'bigint' || n * minItemBytes > this.data.length - this.pos) {
      throw malformed('length exceeds input');
    }
    return n;
  }

  item(depth: number): unknown {
    if (depth > MAX_DEPTH) throw malformed('nesting too deep');
    const d = this.data;
    const start = this.pos;
    if (start >= d.length) throw malformed('truncated');
    const ib = d[start] as number;
    this.pos = start + 1;
    const major = ib >> 5;
    const ai = ib & 0x1f;
    switch (major) {
      case 0:
        return this.argument(ai);
      case 1: {
        const n = this.argument(ai);
        return typeof n === 'number' ? (n === 0x1fffffffffffff ? -1n - BigInt(n) : -1 - n) : -1n - n;
      }
      case 2: {
        const len = this.length(ai, 1);
        const p = this.pos;
        this.pos = p + len;
        return d.subarray(p, p + len);
      }
      case 3: {
        const len = this.length(ai, 1);
        const p = this.pos;
        this.pos = p + len;
        try {
          return UTF8.decode(d.subarray(p, p + len));
        } catch {
          throw malformed('invalid UTF-8 in text string');
        }
      }
      case 4: {
        const count = this.length(ai, 1);
        const out = new Array<unknown>(count);
        for (let i = 0; i < count; i++) out[i] = this.item(depth + 1);
        if (this.keepsOriginals) keepOriginal(out, d.subarray(start, this.pos));
        return out;
      }
      case 5:
        return this.map(ai, start, depth);
      case 6: {
        const tag = this.argument(ai);
        if (typeof tag === 'bigint') throw malformed('tag number too large');
        const t = new CborTag(tag, this.item(depth + 1));
        if (this.keepsOriginals) keepOriginal(t, d.subarray(start, this.pos));
        return t;
      }
      default:
        return this.simple(ai);
    }
  }

  private map(ai: number, start: number, depth: number): Map<unknown, unknown> {
    const count = this.length(ai, 2);
    const out = new Map<unknown, unknown>();
    let seenComplex: Set<string> | undefined;
    for (let i = 0; i < count; i++) {
      const keyStart = this.pos;
      const key = this.item(depth + 1);
      if (typeof key === 'object' && key !== null) {
        // Byte-string and container keys compare by identity in a Map; compare their encoding instead.
        seenComplex ??= new Set();
        const id = Buffer.from(
          this.data.buffer,
          this.data.byteOffset + keyStart,
          this.pos - keyStart,
        ).toString('hex');
        if (seenComplex.has(id)) throw malformed('duplicate map key');
        seenComplex.add(id);
      } else if (out.has(key)) {
        throw malformed('duplicate map key');
      }
      out.set(key, this.item(depth + 1));
    }
    if (this.keepsOriginals) keepOriginal(out, this.data.subarray(start, this.pos));
    return out;
  }

  private simple(ai: number): unknown {
    switch (ai) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 25:
      case 26:
      case 27: {
        const size = ai === 25 ? 2 : ai === 26 ? 4 : 8;
        const p = this.pos;
        if (p + size > this.data.length) throw malformed('truncated float');
        this.pos = p + size;
        this.view ??= new DataView(this.data.buffer, this.data.byteOffset, this.data.byteLength);
        if (size === 2) return halfToNumber(this.view.getUint16(p));
        return size === 4 ? this.view.getFloat32(p) : this.view.getFloat64(p);
      }
      case 31:
        throw malformed('unexpected break');
      default:
        throw malformed(`unsupported simple value ${ai}`);
    }
  }
}

function halfToNumber(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * Decodes exactly one CBOR item; throws FdoError(MESSAGE_BODY_ERROR) for anything malformed, never anything else.
 * `keepOriginals: false` skips remembering original bytes (≈0.3 µs per container) where nobody asks for them.
 */
export function decodeCbor(bytes: Uint8Array, options: { keepOriginals?: boolean } = {}): unknown {
  const data =
    Object.getPrototypeOf(bytes) === Uint8Array.prototype
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new Decoder(data, options.keepOriginals ?? true);
  let value: unknown;
  try {
    value = decoder.item(0);
  } catch (err) {
    if (err instanceof FdoError) throw err;
    // RangeError from a pathological input (stack, allocation) must still look like a bad body.
    throw malformed(err instanceof Error ? err.message : 'decoder failure');
  }
  if (decoder.pos !== data.length) throw malformed('trailing bytes after the item');
  return value;
}

/** The exact input bytes a decoded array, map or tag came from; undefined for values not produced by decodeCbor. */
export function originalBytes(item: unknown): Uint8Array | undefined {
  return typeof item === 'object' && item !== null
    ? ((item as Record<symbol, unknown>)[RAW] as Uint8Array | undefined)
    : undefined;
}

const SCRATCH = new Uint8Array(4096);

/** Encoded order of two integers: non-negative ones ascending, then negative ones from -1 downwards. */
function compareIntKeys(a: number, b: number): number {
  if (a >= 0 !== b >= 0) return a >= 0 ? -1 : 1;
  return a >= 0 ? a - b : b - a;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  }
  return a.length - b.length;
}

class Writer {
  buf: Uint8Array;
  pos = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  head(major: number, n: number | bigint): void {
    const m = major << 5;
    this.reserve(9);
    const b = this.buf;
    if (typeof n === 'bigint' || n > 0xffffffff) {
      const big = BigInt(n);
      if (big < 0n || big > 0xffffffffffffffffn)
        throw new RangeError('integer outside the CBOR 64-bit range');
      b[this.pos++] = m | 27;
      new DataView(b.buffer, b.byteOffset).setBigUint64(this.pos, big);
      this.pos += 8;
    } else if (n < 24) {
      b[this.pos++] = m | n;
    } else if (n < 0x100) {
      b[this.pos++] = m | 24;
      b[this.pos++] = n;
    } else if (n < 0x10000) {
      b[this.pos++] = m | 25;
      b[this.pos++] = n >> 8;
      b[this.pos++] = n & 0xff;
    } else {
      b[this.pos++] = m | 26;
      b[this.pos++] = n >>> 24;
      b[this.pos++] = (n >> 16) & 0xff;
      b[this.pos++] = (n >> 8) & 0xff;
      b[this.pos++] = n & 0xff;
    }
  }

  bytes(data: Uint8Array): void {
    const n = data.length;
    this.reserve(n);
    // TypedArray.set has a fixed cost that dominates for the short strings FDO messages are made of.
    if (n < 64) {
      const b = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) b[p++] = data[i] as number;
    } else {
      this.buf.set(data, this.pos);
    }
    this.pos += n;
  }

  value(v: unknown, depth: number): void {
    if (depth > MAX_DEPTH * 4) throw new RangeError('value nested too deeply to encode');
    if (typeof v === 'number') {
      if (Number.isSafeInteger(v)) this.head(v < 0 ? 1 : 0, v < 0 ? -1 - v : v);
      else if (Number.isInteger(v)) this.value(BigInt(v), depth);
      else this.float(v);
    } else if (typeof v === 'bigint') {
      this.head(v < 0n ? 1 : 0, v < 0n ? -1n - v : v);
    } else if (typeof v === 'string') {
      const utf8 = UTF8_ENCODER.encode(v);
      this.head(3, utf8.length);
      this.bytes(utf8);
    } else if (v instanceof Uint8Array) {
      this.head(2, v.length);
      this.bytes(v);
    } else if (Array.isArray(v)) {
      this.head(4, v.length);
      for (let i = 0; i < v.length; i++) this.value(v[i], depth + 1);
    } else if (v instanceof Map) {
      this.map(v, depth);
    } else if (v instanceof CborTag) {
      this.head(6, v.tag);
      this.value(v.contents, depth + 1);
    } else if (v instanceof CborRaw) {
      this.bytes(v.bytes);
    } else if (v === null) {
      this.head(7, 22);
    } else if (typeof v === 'boolean') {
      this.head(7, v ? 21 : 20);
    } else {
      throw new TypeError(`cannot encode ${typeof v} as CBOR`);
    }
  }

  /** Keys sorted by their encoding (RFC 8949 §4.2.1) so equal maps always encode to equal bytes. */
  private map(m: Map<unknown, unknown>, depth: number): void {
    this.head(5, m.size);
    let allInts = true;
    for (const k of m.keys()) {
      if (!Number.isSafeInteger(k)) {
        allInts = false;
        break;
      }
    }
    if (allInts) {
      // COSE headers and EAT claims: integer keys sort without encoding them first.
      const keys = [...(m.keys() as Iterable<number>)];
      if (keys.length > 1) keys.sort(compareIntKeys);
      for (const k of keys) {
        this.value(k, depth + 1);
        this.value(m.get(k), depth + 1);
      }
      return;
    }
    const entries: { key: Uint8Array; value: unknown }[] = [];
    for (const [k, val] of m) {
      const key = new Writer(new Uint8Array(32));
      key.value(k, depth + 1);
      entries.push({ key: key.buf.subarray(0, key.pos), value: val });
    }
    entries.sort((a, b) => compareBytes(a.key, b.key));
    for (const e of entries) {
      this.bytes(e.key);
      this.value(e.value, depth + 1);
    }
  }

  private float(v: number): void {
    this.reserve(9);
    this.buf[this.pos++] = 0xfb;
    new DataView(this.buf.buffer, this.buf.byteOffset).setFloat64(this.pos, v);
    this.pos += 8;
  }
}

/**
 * Encodes a value (Uint8Array → bstr, Map → map with sorted keys, arrays, numbers, bigint, strings, null,
 * booleans, CborTag, CborRaw). Integers use the shortest head, so FDO structures encode deterministically.
 * Throws TypeError/RangeError for values CBOR cannot carry (a programming error, not a peer's fault).
 */
export function encodeCbor(value: unknown): Uint8Array {
  // Encoding never re-enters encodeCbor, so one scratch buffer serves every call; only the result is allocated.
  const w = new Writer(SCRATCH);
  w.value(value, 0);
  return w.buf.slice(0, w.pos);
}

function describe(x: unknown): string {
  if (x instanceof Uint8Array) return `bstr(${x.length})`;
  if (Array.isArray(x)) return `array(${x.length})`;
  if (x instanceof Map) return 'map';
  if (x instanceof CborTag) return `tag ${x.tag}`;
  return x === null ? 'null' : typeof x;
}

function wrongShape(what: string, expected: string, x: unknown): FdoError {
  return new FdoError(FDO_ERROR.MESSAGE_BODY_ERROR, `${what}: expected ${expected}, got ${describe(x)}`);
}

/** An array, optionally of an exact length (or a [min, max] range). */
export function asArray(x: unknown, length?: number | readonly [number, number], what = 'value'): unknown[] {
  if (!Array.isArray(x)) throw wrongShape(what, 'array', x);
  if (typeof length === 'number' && x.length !== length) throw wrongShape(what, `array(${length})`, x);
  if (Array.isArray(length) && (x.length < length[0] || x.length > length[1])) {
    throw wrongShape(what, `array(${length[0]}..${length[1]})`, x);
  }
  return x;
}

/** A byte string, optionally of an exact size. */
export function asBytes(x: unknown, size?: number, what = 'value'): Uint8Array {
  if (!(x instanceof Uint8Array)) throw wrongShape(what, 'bstr', x);
  if (size !== undefined && x.length !== size) throw wrongShape(what, `bstr(${size})`, x);
  return x;
}

/** An unsigned integer that fits in a JS number, optionally at most `max`. */
export function asUint(x: unknown, max = Number.MAX_SAFE_INTEGER, what = 'value'): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > max)
    throw wrongShape(what, `uint ≤ ${max}`, x);
  return x;
}

/** A (possibly negative) integer that fits in a JS number. */
export function asInt(x: unknown, what = 'value'): number {
  if (typeof x !== 'number' || !Number.isInteger(x)) throw wrongShape(what, 'int', x);
  return x;
}

/** A text string. */
export function asText(x: unknown, what = 'value'): string {
  if (typeof x !== 'string') throw wrongShape(what, 'tstr', x);
  return x;
}

/** A map. */
export function asMap(x: unknown, what = 'value'): Map<unknown, unknown> {
  if (!(x instanceof Map)) throw wrongShape(what, 'map', x);
  return x;
}

/** The contents of a tag with the given number. */
export function asTagged(x: unknown, tag: number, what = 'value'): unknown {
  if (!(x instanceof CborTag) || x.tag !== tag) throw wrongShape(what, `tag ${tag}`, x);
  return x.contents;
}

/** Decodes a `bstr .cbor T` wrapper: the bstr's contents are the item's original bytes. */
export function decodeWrapped(x: unknown, what = 'value'): unknown {
  return decodeCbor(asBytes(x, undefined, what));
}
