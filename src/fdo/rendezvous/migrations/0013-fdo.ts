import type { NamedMigration } from '../../../core/db/migrate.js';

/** FDO rendezvous: owner registrations from TO0 (keyed by device GUID) and the allow/deny lists. */
export const fdoMigration: NamedMigration = {
  name: '0013_fdo',
  async up(db, dialect) {
    const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
    await db.schema
      .createTable('fdo_registrations')
      // 32 lowercase hex digits.
      .addColumn('guid', 'text', (c) => c.primaryKey())
      .addColumn('device_info', 'text', (c) => c.notNull())
      // SHA-384 (hex) of the CBOR-encoded PublicKey of the last voucher entry / of the voucher header.
      .addColumn('owner_key_hash', 'text', (c) => c.notNull())
      .addColumn('manufacturer_key_hash', 'text', (c) => c.notNull())
      // The COSE_Sign1 exactly as the owner sent it (tag 18 included): TO1 serves these bytes unchanged.
      .addColumn('to1d', bytes, (c) => c.notNull())
      // SubjectPublicKeyInfo DER of the device certificate chain's leaf: verifies the device's EAT in TO1.
      .addColumn('device_key', bytes, (c) => c.notNull())
      // The to1d RVTO2AddrEntry list in readable form (JSON), for operators.
      .addColumn('to2_addresses', 'text', (c) => c.notNull())
      .addColumn('wait_seconds', 'bigint', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('registered_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('fdo_registrations_expires_at')
      .on('fdo_registrations')
      .column('expires_at')
      .execute();
    await db.schema
      .createTable('fdo_access_rules')
      .addColumn('list', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('fdo_access_rules_pk', ['list', 'subject', 'value'])
      .execute();
  },
};
