import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTable } from './output.js';

test('aligns columns two spaces apart without padding the last one', () => {
  const table = formatTable([
    ['NAME', 'ROLES', 'ENABLED'],
    ['administrator', 'admin', 'yes'],
    ['bob', 'reader,operator', 'no'],
  ]);
  assert.equal(
    table,
    [
      'NAME           ROLES            ENABLED',
      'administrator  admin            yes',
      'bob            reader,operator  no',
      '',
    ].join('\n'),
  );
});

test('prints nothing for no rows', () => {
  assert.equal(formatTable([]), '');
});
