import { type Command, Option } from 'commander';
import { type Column, printData, printItem, printList } from './output.js';
import { globalOptions, withApi } from './session.js';

const PHASES = ['idle', 'trust-both', 'update-certs', 'trust-new-ca'] as const;
type Phase = (typeof PHASES)[number];
const NEXT: Record<Phase, Phase> = {
  idle: 'trust-both',
  'trust-both': 'update-certs',
  'update-certs': 'trust-new-ca',
  'trust-new-ca': 'idle',
};
const DONE: Record<Phase, string> = {
  'trust-both': 'trust-both: new root CA created; the trusted bundle holds the old and the new root',
  'update-certs': 'update-certs: managed certificates re-issued by the new root and reloaded',
  'trust-new-ca': 'trust-new-ca: the trusted bundle holds the new root only',
  idle: 'idle: rotation finished',
};

/** `GET /v1/pki/ca`. */
interface CaView {
  phase: Phase;
  startedAt: string | null;
  updatedAt: string | null;
  roots: {
    subject: string;
    fingerprint256: string;
    notBefore: string;
    notAfter: string;
    isSigning: boolean;
  }[];
}

const ROOT_COLUMNS: readonly Column<CaView['roots'][number]>[] = [
  { header: 'SUBJECT', value: (root) => root.subject.replace(/\n/g, ', ') },
  { header: 'SIGNS', value: (root) => (root.isSigning ? 'yes' : 'no') },
  { header: 'NOT AFTER', value: (root) => root.notAfter },
  { header: 'SHA-256 FINGERPRINT', value: (root) => root.fingerprint256 },
];
const FIELDS: readonly Column<CaView>[] = [
  { header: 'PHASE', value: (view) => view.phase },
  { header: 'STARTED', value: (view) => view.startedAt },
  { header: 'UPDATED', value: (view) => view.updatedAt },
];

/** `murm cert rotate-ca` and `murm cert ca show`: the site root CA and its rotation. */
export function addCertCaCommands(cert: Command): void {
  cert
    .command('rotate-ca')
    .description('rotate the site root CA without a restart: trust-both, update-certs, trust-new-ca, idle')
    .addOption(new Option('--phase <phase>', 'run only this phase (the next one)').choices(PHASES))
    .addHelpText(
      'after',
      `
Every remaining phase runs in order; a rotation stopped half-way resumes where it stopped.
Give clients the bundle ("murm cert ca show", pki/ca.crt) after trust-both, before update-certs.

Examples:
  murm cert rotate-ca
  murm cert rotate-ca --phase trust-both`,
    )
    .action(async (flags: { phase?: Phase }, command: Command) => {
      const format = globalOptions(command).output;
      const view = await withApi(command, async (api) => {
        let phase = flags.phase;
        if (phase === undefined) phase = NEXT[(await api.get<CaView>('/v1/pki/ca')).phase];
        for (;;) {
          const done = await api.post<CaView>(`/v1/pki/rotate-ca?phase=${phase}`);
          if (format === 'table') process.stdout.write(`${DONE[phase]}\n`);
          if (flags.phase !== undefined || phase === 'idle') return done;
          phase = NEXT[phase];
        }
      });
      if (format !== 'table') await printData(format, view);
    });

  cert
    .command('ca')
    .description('the site root CA')
    .command('show')
    .description('show the rotation phase and the roots the site trusts')
    .action(async (_flags: unknown, command: Command) => {
      const view = await withApi(command, (api) => api.get<CaView>('/v1/pki/ca'));
      const format = globalOptions(command).output;
      if (format !== 'table') {
        await printData(format, view);
        return;
      }
      await printItem(format, view, FIELDS);
      await printList(format, view.roots, ROOT_COLUMNS);
    });
}
