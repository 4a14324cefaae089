import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatCpuList, parseCpuList } from './cpulist.js';

describe('parseCpuList', () => {
  const CASES: [string, number[]][] = [
    ['0', [0]],
    ['0-3', [0, 1, 2, 3]],
    ['0-3,8-11\n', [0, 1, 2, 3, 8, 9, 10, 11]],
    ['0-3,8,10-11', [0, 1, 2, 3, 8, 10, 11]],
    ['12,4-5,4', [4, 5, 12]],
    ['7-7', [7]],
    ['', []],
    ['\n', []],
  ];
  for (const [text, cpus] of CASES) {
    test(`reads ${JSON.stringify(text)} as ${JSON.stringify(cpus)}`, () => {
      assert.deepEqual(parseCpuList(text), cpus);
    });
  }

  const BAD: [string, RegExp][] = [
    ['abc', /cpu list "abc": "abc" is neither a CPU number nor a range like "0-3"/],
    ['0-3,,8', /"" is neither a CPU number nor a range/],
    ['0-3,', /"" is neither a CPU number nor a range/],
    ['-1', /"-1" is neither a CPU number nor a range/],
    ['1.5', /"1.5" is neither/],
    ['0-15:2/4', /"0-15:2\/4" is neither/],
    ['5-2', /range "5-2" runs backwards/],
    ['0-4294967295', /CPU 4294967295 is above 65535/],
  ];
  for (const [text, message] of BAD) {
    test(`throws an Error naming the bad part of ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseCpuList(text), message);
    });
  }
});

describe('formatCpuList', () => {
  const CASES: [number[], string][] = [
    [[], ''],
    [[0], '0'],
    [[0, 1], '0-1'],
    [[0, 1, 2, 3, 8, 10, 11], '0-3,8,10-11'],
    [[11, 3, 2, 10, 0, 1, 8, 3], '0-3,8,10-11'],
    [[1, 3, 5], '1,3,5'],
  ];
  for (const [cpus, text] of CASES) {
    test(`writes ${JSON.stringify(cpus)} as ${JSON.stringify(text)}`, () => {
      assert.equal(formatCpuList(cpus), text);
    });
  }

  test('round-trips with parseCpuList', () => {
    for (const text of ['0', '0-1', '0-3,8-11', '1,3,5-6,64-127,255']) {
      assert.equal(formatCpuList(parseCpuList(text)), text);
    }
    const cpus = [0, 2, 3, 4, 9, 200, 201];
    assert.deepEqual(parseCpuList(formatCpuList(cpus)), cpus);
  });

  test('throws a RangeError for a number that is not a CPU number', () => {
    for (const bad of [-1, 1.5, Number.NaN]) {
      assert.throws(() => formatCpuList([0, bad]), RangeError);
    }
  });
});
