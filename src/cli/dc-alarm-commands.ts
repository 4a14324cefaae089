import type { Command } from 'commander';
import type { AlarmSummary, AlarmSummaryItem } from '../dcloud/views.js';
import { type Column, printData, printList } from './output.js';
import { globalOptions, withApi } from './session.js';

const COLUMNS: readonly Column<AlarmSummaryItem>[] = [
  { header: 'NAME', value: (row) => row.name },
  { header: 'CRITICAL', value: (row) => row.critical },
  { header: 'MAJOR', value: (row) => row.major },
  { header: 'MINOR', value: (row) => row.minor },
  { header: 'WARNING', value: (row) => row.warning },
  { header: 'CLOUD STATUS', value: (row) => row.cloudStatus },
];

/** `murm dc alarm …` on the `dc` group: the alarms of the fleet, per subcloud. */
export function addDcAlarmCommands(dc: Command): void {
  const alarm = dc
    .command('alarm')
    .description('alarms of the subclouds, as the system controller last heard them')
    .addHelpText('after', '\nExamples:\n  murm dc alarm summary');

  alarm
    .command('summary')
    .description(
      'count the active alarms of each subcloud by severity, with its cloud status and fleet totals',
    )
    .addHelpText('after', '\nExamples:\n  murm dc alarm summary\n  murm dc alarm summary -o json')
    .action(async (_flags: unknown, command: Command) => {
      const summary = await withApi(command, (api) => api.get<AlarmSummary>('/v1/dc/alarm-summary'));
      const format = globalOptions(command).output;
      if (format !== 'table') return printData(format, summary);
      await printList(format, summary.items, COLUMNS);
      process.stdout.write(`${totalsLine(summary)}\n`);
    });
}

/** Alarm counts summed over the subclouds that report them, then how many subclouds have each status. */
function totalsLine(summary: AlarmSummary): string {
  const { critical, major, minor, warning, cloudStatus } = summary.totals;
  const statuses = Object.entries(cloudStatus).map(([status, count]) => `${count} ${status}`);
  return (
    `total: ${critical} critical, ${major} major, ${minor} minor, ${warning} warning; ` +
    `${summary.items.length} subclouds: ${statuses.join(', ')}`
  );
}
