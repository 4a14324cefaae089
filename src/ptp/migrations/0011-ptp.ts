import type { NamedMigration } from '../../core/db/migrate.js';

/** PTP instances and interfaces, their assignments to hosts, and per-host linuxptp settings. */
export const ptpMigration: NamedMigration = {
  name: '0011_ptp',
  async up(db) {
    await db.schema
      .createTable('ptp_instances')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('service', 'text', (c) => c.notNull())
      // PtpParameter[] as JSON: order is kept, as it is written to the configuration file.
      .addColumn('parameters', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('ptp_interfaces')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('instance', 'text', (c) => c.notNull())
      .addColumn('parameters', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('ptp_host_instances')
      .addColumn('hostname', 'text', (c) => c.notNull())
      .addColumn('instance', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('ptp_host_instances_pk', ['hostname', 'instance'])
      .execute();
    await db.schema
      .createTable('ptp_interface_ports')
      .addColumn('ptp_interface', 'text', (c) => c.notNull())
      .addColumn('hostname', 'text', (c) => c.notNull())
      .addColumn('ifname', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('ptp_interface_ports_pk', ['ptp_interface', 'hostname', 'ifname'])
      .execute();
    await db.schema
      .createTable('ptp_hosts')
      .addColumn('hostname', 'text', (c) => c.primaryKey())
      .addColumn('linuxptp_version', 'text', (c) => c.notNull().defaultTo('3.1'))
      // RenderedFile[] as JSON from the last `ptp apply`; null = nothing applied for this host.
      .addColumn('applied_files', 'text')
      .execute();
  },
};
