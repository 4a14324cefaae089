import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '../core/errors.js';
import {
  CA_ROTATION_PHASES,
  type CaRotationPhase,
  nextCaRotationPhase,
  transitionCaRotation,
} from './ca-rotation.js';

const LEGAL: readonly [CaRotationPhase, CaRotationPhase][] = [
  ['idle', 'trust-both'],
  ['trust-both', 'update-certs'],
  ['update-certs', 'trust-new-ca'],
  ['trust-new-ca', 'idle'],
];

describe('CA rotation phases', () => {
  for (const from of CA_ROTATION_PHASES) {
    for (const to of CA_ROTATION_PHASES) {
      const isLegal = LEGAL.some(([a, b]) => a === from && b === to);
      test(`${isLegal ? 'moves' : 'refuses to move'} from ${from} to ${to}`, () => {
        if (isLegal) {
          assert.equal(transitionCaRotation(from, to), to);
          assert.equal(nextCaRotationPhase(from), to);
        } else {
          assert.throws(
            () => transitionCaRotation(from, to),
            (error: unknown) => error instanceof AppError && error.code === 'conflict',
          );
        }
      });
    }
  }

  test('comes back to idle after four steps from idle', () => {
    let phase: CaRotationPhase = 'idle';
    const seen: CaRotationPhase[] = [];
    for (let step = 0; step < 4; step++) {
      phase = nextCaRotationPhase(phase);
      seen.push(phase);
    }
    assert.deepEqual(seen, ['trust-both', 'update-certs', 'trust-new-ca', 'idle']);
  });
});
