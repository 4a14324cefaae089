import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeCbor } from '../cbor.js';
import { FDO_ERROR, FdoError } from '../errors.js';
import {
  decodeHelloRv,
  encodeAcceptOwner,
  encodeErrorMessage,
  encodeHelloAck,
  encodeHelloRvAck,
  readTo2Addresses,
} from './messages.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const NONCE = new Uint8Array(16).fill(0xab);

// Reference bytes from fdo.md §10 (computed with cbor2 from the go-fdo sample GUID).
describe('fdo rendezvous wire format', () => {
  test('TO0.HelloAck, TO0.AcceptOwner and TO1.HelloRVAck are byte-exact', () => {
    assert.equal(hex(encodeHelloAck(NONCE)), `8150${'ab'.repeat(16)}`);
    assert.equal(hex(encodeAcceptOwner(86_400)), '811a00015180');
    const hello = decodeHelloRv(Buffer.from('825066b2146ffec53ca6ad017625990572ce822640', 'hex'));
    assert.equal(hex(hello.guid), '66b2146ffec53ca6ad017625990572ce');
    assert.equal(hello.sgType, -7);
    assert.equal(hex(encodeHelloRvAck(NONCE, hello.sigInfo)), `8250${'ab'.repeat(16)}822640`);
  });

  test('ES384 sigInfo is echoed as sent; a non-empty info is INVALID_MESSAGE_ERROR', () => {
    const hello = decodeHelloRv(Buffer.from('825066b2146ffec53ca6ad017625990572ce82382240', 'hex'));
    assert.equal(hello.sgType, -35);
    assert.equal(hex(hello.sigInfo), '82382240');
    assert.throws(
      () => decodeHelloRv(Buffer.from('825066b2146ffec53ca6ad017625990572ce82264101', 'hex')),
      (error: unknown) => error instanceof FdoError && error.code === FDO_ERROR.INVALID_MESSAGE_ERROR,
    );
    assert.throws(
      () => decodeHelloRv(Buffer.from('824f66b2146ffec53ca6ad017625990572822640', 'hex')),
      (error: unknown) => error instanceof FdoError && error.code === FDO_ERROR.MESSAGE_BODY_ERROR,
    );
  });

  test('ErrorMessage is [code, prevMsgId, text, unix seconds, cid]', () => {
    const bytes = encodeErrorMessage({ code: 2, prevMsgId: 22, now: new Date(1_700_000_000_500), cid: 7 });
    assert.deepEqual(decodeCbor(bytes), [2, 22, 'ownership voucher rejected', 1_700_000_000, 7]);
  });

  test('TO2 addresses: IPv4, IPv6 or DNS; neither is 101, a bad IP length 4', () => {
    const v6 = new Uint8Array(16);
    v6[0] = 0x20;
    v6[1] = 0x01;
    v6[15] = 1;
    assert.deepEqual(
      readTo2Addresses([
        [Uint8Array.of(10, 0, 0, 1), null, 8043, 5],
        [v6, null, 443, 2],
        [null, 'owner.example', 80, 3],
      ]),
      [
        { ip: '10.0.0.1', dns: null, port: 8043, protocol: 'https' },
        { ip: '2001:0:0:0:0:0:0:1', dns: null, port: 443, protocol: 'tls' },
        { ip: null, dns: 'owner.example', port: 80, protocol: 'http' },
      ],
    );
    const codeOf = (entry: unknown) => {
      try {
        readTo2Addresses([entry]);
        return 'accepted';
      } catch (error) {
        return (error as FdoError).code;
      }
    };
    assert.equal(codeOf([null, null, 80, 3]), FDO_ERROR.INVALID_MESSAGE_ERROR);
    assert.equal(codeOf([Uint8Array.of(1, 2, 3), null, 80, 3]), FDO_ERROR.INVALID_IP_ADDRESS);
    assert.equal(codeOf([null, 'x', 70_000, 3]), FDO_ERROR.MESSAGE_BODY_ERROR);
    assert.equal(codeOf([null, 'x', 80, 9]), FDO_ERROR.MESSAGE_BODY_ERROR);
  });
});
