import { sql } from 'kysely';
import type { NamedMigration } from '../../core/db/migrate.js';

/**
 * The linuxptp version an agent detected (`ptp4l -v`) and the one an operator set, apart: the host's
 * files use the operator's when set, else the detected one. Rows from before stored only the version
 * in use; one other than the old default 3.1 can only have come from an operator.
 */
export const ptpLinuxptpDetectionMigration: NamedMigration = {
  name: '0014_ptp_linuxptp_detection',
  async up(db) {
    await db.schema.alterTable('ptp_hosts').addColumn('linuxptp_override', 'text').execute();
    // As `ptp4l -v` printed it (`3.1.1`); null while no agent reported one.
    await db.schema.alterTable('ptp_hosts').addColumn('linuxptp_detected', 'text').execute();
    await sql`update ptp_hosts set linuxptp_override = linuxptp_version where linuxptp_version <> '3.1'`.execute(
      db,
    );
  },
};
