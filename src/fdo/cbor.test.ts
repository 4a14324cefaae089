import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { decode as referenceDecode, encode as referenceEncode } from 'cbor2';
import {
  asArray,
  asBytes,
  asUint,
  CborRaw,
  CborTag,
  decodeCbor,
  decodeWrapped,
  encodeCbor,
  originalBytes,
} from './cbor.js';
import { FDO_ERROR, FdoError } from './errors.js';

const hex = (h: string) => new Uint8Array(Buffer.from(h.replaceAll(' ', ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const OV_EXTENDED = readFileSync(
  new URL('../../test/fixtures/fdo-vectors/ov_extended.pem', import.meta.url),
  'utf8',
);
const OV_BYTES = new Uint8Array(
  Buffer.from(OV_EXTENDED.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'),
);

const isBodyError = (err: unknown) => err instanceof FdoError && err.code === FDO_ERROR.MESSAGE_BODY_ERROR;

test('encodes scalars exactly as cbor2 does and decodes them back', () => {
  const values: unknown[] = [
    0,
    23,
    24,
    255,
    256,
    65_535,
    65_536,
    2 ** 32 - 1,
    2 ** 32,
    Number.MAX_SAFE_INTEGER,
    2n ** 53n,
    2n ** 64n - 1n,
    -1,
    -24,
    -25,
    -(2 ** 32),
    -(2n ** 64n),
    '',
    'go.fdo.example',
    'héllo ✓',
    null,
    true,
    false,
  ];
  for (const value of values) {
    assert.equal(toHex(encodeCbor(value)), toHex(referenceEncode(value)), `encoding of ${String(value)}`);
    assert.equal(decodeCbor(encodeCbor(value)), value, `round trip of ${String(value)}`);
  }
});

test('decodes the FDO reference messages to the documented shapes', () => {
  const nonce = new Uint8Array(16).fill(0xab);
  assert.deepEqual(decodeCbor(hex('80')), []);
  assert.deepEqual(decodeCbor(hex(`8150${'ab'.repeat(16)}`)), [nonce]);
  assert.deepEqual(decodeCbor(hex('811a00015180')), [86_400]);
  const hello = decodeCbor(hex('825066b2146ffec53ca6ad017625990572ce822640'));
  assert.deepEqual(hello, [hex('66b2146ffec53ca6ad017625990572ce'), [-7, new Uint8Array(0)]]);
  // The fdo-rs ErrorMessage with a CID above 2^53 (fdo.md §6).
  const error = decodeCbor(
    hex(
      '850216782a4f776e65727368697020766f7563686572206d616e756661637475726572206e6f742074727573746564f61be34d1bbfbd9d5c17',
    ),
  );
  assert.deepEqual(error, [
    2,
    22,
    'Ownership voucher manufacturer not trusted',
    null,
    16_378_777_930_150_272_023n,
  ]);
  assert.equal(toHex(encodeCbor([2, 22, 'x', null, 1])), '85021661 78f601'.replaceAll(' ', ''));
});

test('decodes maps as Map with sorted keys on encode, tags as CborTag and bstr as plain Uint8Array', () => {
  const eatPayload = new Map<number, unknown>([
    [256, hex('0166b2146ffec53ca6ad017625990572ce')],
    [10, new Uint8Array(16).fill(0xab)],
  ]);
  const encoded = encodeCbor(eatPayload);
  assert.equal(toHex(encoded), `a20a50${'ab'.repeat(16)}1901005101${'66b2146ffec53ca6ad017625990572ce'}`);
  // RFC 8949 §4.2.1 order: 1, 10, 256, -1, -3, -259; string keys after integers, shorter first.
  const mixed = new Map<unknown, unknown>([
    [-3, 1],
    [256, 2],
    [-1, 3],
    [10, 4],
    [1, 5],
    [-259, 6],
  ]);
  assert.equal(toHex(encodeCbor(mixed)), 'a601050a04190100022003220139010206');
  mixed.set('bb', 7).set('a', 8);
  assert.equal(toHex(encodeCbor(mixed)).slice(-14), '61610862626207');
  const decoded = decodeCbor(Buffer.from(encoded));
  assert.ok(decoded instanceof Map);
  const ueid = decoded.get(256);
  assert.equal(
    Object.getPrototypeOf(ueid),
    Uint8Array.prototype,
    'a Buffer input still yields plain Uint8Array',
  );
  const tagged = decodeCbor(encodeCbor(new CborTag(18, [hex('a10126'), new Map(), hex('00'), hex('01')])));
  assert.ok(tagged instanceof CborTag);
  assert.equal(tagged.tag, 18);
  assert.deepEqual(tagged.contents, [hex('a10126'), new Map(), hex('00'), hex('01')]);
  assert.deepEqual(
    referenceDecode(encodeCbor(new Map([['a', 1]])), { preferMap: true }),
    new Map([['a', 1]]),
  );
});

test('keeps the original bytes of nested items, even in non-preferred encodings', () => {
  // [[-16 as a 2-byte head, h'01'], 18([..])]: re-encoding would normalise the head and change a hash.
  const bytes = hex('82 82 3900 0f 41 01 d2 84 40 a0 40 40');
  const [hashItem, sign1] = asArray(decodeCbor(bytes), 2);
  assert.equal(toHex(originalBytes(hashItem) ?? new Uint8Array()), '8239000f4101');
  assert.equal(toHex(originalBytes(sign1) ?? new Uint8Array()), 'd28440a04040');
  assert.equal(originalBytes([1, 2]), undefined);
  assert.equal(toHex(encodeCbor([new CborRaw(hex('8239000f4101')), 1])), '828239000f410101');
  assert.deepEqual(hashItem, [-16, hex('01')], 'the remembered bytes do not disturb deep equality');
  assert.deepEqual(decodeWrapped(hex('a10126')), new Map([[1, -7]]));
});

test('rejects malformed input with MESSAGE_BODY_ERROR', () => {
  const cases: Record<string, string> = {
    empty: '',
    'trailing bytes': '8000',
    'indefinite array': '9f01ff',
    'indefinite bstr': '5f4101ff',
    'indefinite map': 'bf0101ff',
    'duplicate int key': 'a201010102',
    'duplicate bstr key': 'a241000141000a',
    'truncated head': '19 01',
    'truncated bstr': '4401',
    'bstr length beyond input': '5bffffffffffffffff00',
    'array count beyond input': '9a7fffffff',
    'map count beyond input': 'b9ffff01',
    'invalid UTF-8': '62c328',
    'reserved additional info': '1c',
    'lone break': 'ff',
    undefined: 'f7',
    'simple value': 'f0',
    'tag number beyond 2^53': 'dbffffffffffffffff00',
  };
  for (const [name, h] of Object.entries(cases)) {
    assert.throws(() => decodeCbor(hex(h)), isBodyError, name);
  }
  const deep = new Uint8Array(40).fill(0x81);
  deep[39] = 0x80;
  assert.throws(() => decodeCbor(deep), isBodyError, 'nesting deeper than 32');
  const ok = new Uint8Array(33).fill(0x81);
  ok[32] = 0x80;
  assert.doesNotThrow(() => decodeCbor(ok), 'nesting of 32 is fine');
});

test('typed readers name the field and throw MESSAGE_BODY_ERROR', () => {
  assert.throws(
    () => asBytes(new Uint8Array(15), 16, 'Guid'),
    (err: unknown) =>
      isBodyError(err) && /Guid: expected bstr\(16\), got bstr\(15\)/.test((err as Error).message),
  );
  assert.throws(() => asUint(-1), isBodyError);
  assert.throws(() => asUint(2 ** 32, 0xffffffff), isBodyError);
  assert.throws(() => asArray([1, 2], [3, 4]), isBodyError);
  assert.equal(asUint(4_294_967_295, 0xffffffff), 4_294_967_295);
});

test('never throws anything but FdoError on mutated and random input', () => {
  let seed = 7;
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    return seed;
  };
  for (let i = 0; i < 3000; i++) {
    const input =
      i % 3 === 0 ? new Uint8Array(randomBytes(1 + (next() % 64))) : OV_BYTES.slice(0, 64 + (next() % 2000));
    if (i % 3 !== 0) for (let j = 0; j < 4; j++) input[next() % input.length] = next() & 0xff;
    try {
      decodeCbor(input);
    } catch (err) {
      assert.ok(isBodyError(err), `unexpected ${String(err)} for ${toHex(input).slice(0, 80)}`);
    }
  }
});
