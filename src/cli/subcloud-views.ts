import type { AlarmCounts } from '../dcloud/uplink-protocol.js';
import type { SubcloudDetail, SubcloudView } from '../dcloud/views.js';
import { type Column, formatTable, type OutputFormat, printData, printItem } from './output.js';

/** A new subcloud and its one-time join bundle (`murm-join:…`), as `POST /v1/subclouds` answers. */
export interface AddedSubcloud {
  subcloud: SubcloudView;
  bundle: string;
}

export const SUBCLOUD_COLUMNS: readonly Column<SubcloudView>[] = [
  { header: 'NAME', value: (subcloud) => subcloud.name },
  { header: 'GROUP', value: (subcloud) => subcloud.group },
  { header: 'MANAGEMENT', value: (subcloud) => subcloud.management },
  { header: 'AVAILABILITY', value: (subcloud) => subcloud.availability },
  { header: 'DEPLOY', value: (subcloud) => subcloud.deployStatus },
  { header: 'SYNC', value: (subcloud) => subcloud.syncStatus },
  { header: 'CLOUD STATUS', value: (subcloud) => subcloud.cloudStatus },
];

const SUBCLOUD_FIELDS: readonly Column<SubcloudDetail>[] = [
  { header: 'NAME', value: (subcloud) => subcloud.name },
  { header: 'DESCRIPTION', value: (subcloud) => subcloud.description },
  { header: 'LOCATION', value: (subcloud) => subcloud.location },
  { header: 'GROUP', value: (subcloud) => subcloud.group },
  { header: 'MANAGEMENT', value: (subcloud) => subcloud.management },
  { header: 'AVAILABILITY', value: (subcloud) => subcloud.availability },
  { header: 'DEPLOY STATUS', value: (subcloud) => subcloud.deployStatus },
  { header: 'SYNC STATUS', value: (subcloud) => subcloud.syncStatus },
  { header: 'SOFTWARE VERSION', value: (subcloud) => subcloud.softwareVersion },
  { header: 'LAST SEEN', value: (subcloud) => subcloud.lastSeenAt },
  { header: 'CLOUD STATUS', value: (subcloud) => subcloud.cloudStatus },
  { header: 'ALARMS', value: (subcloud) => formatAlarms(subcloud.alarms) },
  { header: 'CREATED', value: (subcloud) => subcloud.createdAt },
  { header: 'UPDATED', value: (subcloud) => subcloud.updatedAt },
];

/** The path of one subcloud in the API. */
export function subcloudPath(name: string): string {
  return `/v1/subclouds/${encodeURIComponent(name)}`;
}

/** Alarm counts as `1 critical, 2 major, 0 minor, 0 warning`; undefined while the subcloud reports none. */
function formatAlarms(alarms: AlarmCounts | null): string | undefined {
  if (alarms === null) return undefined;
  return `${alarms.critical} critical, ${alarms.major} major, ${alarms.minor} minor, ${alarms.warning} warning`;
}

/** `murm subcloud show`: the subcloud's fields, then the sync status of each endpoint. */
export async function printSubcloudDetail(format: OutputFormat, subcloud: SubcloudDetail): Promise<void> {
  if (format !== 'table') return printData(format, subcloud);
  await printItem(format, subcloud, SUBCLOUD_FIELDS);
  const rows = subcloud.endpoints.map((each) => [each.endpoint, each.syncStatus]);
  process.stdout.write(`\nEndpoints:\n${formatTable([['ENDPOINT', 'SYNC STATUS'], ...rows])}`);
}

/** One line with the states of a subcloud, after a change. */
export function subcloudStatesLine(subcloud: SubcloudView): string {
  return `subcloud "${subcloud.name}" is ${subcloud.management}, ${subcloud.availability}, ${subcloud.syncStatus}`;
}

/**
 * The bundle once, and the exact commands that join the subcloud with it. The bundle holds a one-time
 * token that the server keeps only as a hash, so this is the only chance to see it.
 */
export function printJoinBundle(subcloud: SubcloudView, bundle: string): void {
  process.stdout.write(
    `${addedLine(subcloud)}\n` +
      `join bundle of "${subcloud.name}", shown only this once (it holds a one-time token: keep it secret).\n` +
      'on the new subcloud, run:\n' +
      `  BUNDLE=${shellWord(bundle)}\n` +
      '  murm serve --join "$BUNDLE"     # starts the subcloud and joins\n' +
      '  murm dc join "$BUNDLE"          # or, where murm already runs\n',
  );
}

/** Where the bundle was written instead, and the exact commands that join the subcloud with that file. */
export function printJoinBundleFile(subcloud: SubcloudView, file: string): void {
  const bundle = `"$(cat ${shellWord(file)})"`;
  process.stdout.write(
    `${addedLine(subcloud)}\n` +
      `wrote its join bundle to ${file} (mode 0600; it holds a one-time token: keep it secret).\n` +
      'copy the file to the new subcloud and run there:\n' +
      `  murm serve --join ${bundle}     # starts the subcloud and joins\n` +
      `  murm dc join --bundle-file ${shellWord(file)}     # or, where murm already runs\n`,
  );
}

function addedLine(subcloud: SubcloudView): string {
  return `added subcloud "${subcloud.name}" to group "${subcloud.group}" (${subcloud.management}, ${subcloud.availability} until it joins)`;
}

/** A word the shell passes through unchanged: as it is when it is safe, else in single quotes. */
function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}
