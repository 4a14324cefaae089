import type { LinuxptpVersion, PtpService } from './model.js';

/**
 * The parameter names each PTP service accepts, with value types and ranges, per linuxptp version.
 *
 * ptp4l, phc2sys and ts2phc (linuxptp 3.1): every name, range and enum below was checked against the
 * real `ptp4l` 3.1.1 of Debian 12 (its parser is shared by all three tools): an unknown name or an
 * out-of-range value makes it exit 254 ("unknown option", "out of range value"); which names it
 * accepts inside a `[port]` section gave the `any` scope. phc2sys and ts2phc keep to the options their
 * 3.1.1 man pages list for the configuration file. linuxptp 4.x: the same names plus `clientOnly`
 * (the new name of `slaveOnly`, which 4.x still accepts) and `uds_ro_address` (linuxptp.md §10).
 * phc2sys `ha_*`: StarlingX's patched phc2sys (failover between ptp4l instances); stock phc2sys
 * rejects them. synce4l (a separate program, not part of linuxptp) and `clock` (NIC pin settings
 * StarlingX applies itself): names from StarlingX, ranges not checked against a binary.
 */

type ValueType =
  | { kind: 'int'; min: number; max: number }
  | { kind: 'double'; min: number; max?: number; isMinExclusive?: boolean }
  | { kind: 'bool' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'string' };

/**
 * Where a parameter may be written: `global` only in the instance (`[global]`), `device` in the
 * instance (synce4l writes it in its device section), `port` only on a PTP interface, `any` in both
 * (in `[global]` it is the default for every port).
 */
type ParameterScope = 'global' | 'device' | 'port' | 'any';

export interface ParameterSpec {
  type: ValueType;
  scope: ParameterScope;
  /** linuxptp versions that know the name; all when absent. */
  versions?: readonly LinuxptpVersion[];
  /** The name linuxptp 4.x prefers; the renderer writes that one on 4.x hosts. */
  nameIn4?: string;
  /** murm writes it from the site (unique sockets, tags, failover sources); users may not set it. */
  isSetByMurm?: boolean;
}

const INT_MAX = 2_147_483_647;
const INT_MIN = -2_147_483_648;

const int = (min: number, max: number, scope: ParameterScope = 'global'): ParameterSpec => ({
  type: { kind: 'int', min, max },
  scope,
});
const bool = (scope: ParameterScope = 'global'): ParameterSpec => ({ type: { kind: 'bool' }, scope });
const str = (scope: ParameterScope = 'global'): ParameterSpec => ({ type: { kind: 'string' }, scope });
const oneOf = (values: readonly string[], scope: ParameterScope = 'global'): ParameterSpec => ({
  type: { kind: 'enum', values },
  scope,
});
const nonNegative = (): ParameterSpec => ({ type: { kind: 'double', min: 0 }, scope: 'global' });
const real = (): ParameterSpec => ({ type: { kind: 'double', min: -Infinity }, scope: 'global' });
const positiveAtMost = (max: number): ParameterSpec => ({
  type: { kind: 'double', min: 0, max, isMinExclusive: true },
  scope: 'global',
});
const bySite = (spec: ParameterSpec): ParameterSpec => ({ ...spec, isSetByMurm: true });
const logInterval = (): ParameterSpec => int(-128, 127, 'any');

/** Options of the shared linuxptp logging and servo code, also taken by phc2sys and ts2phc. */
const COMMON = {
  logging_level: int(0, 7),
  message_tag: bySite(str()),
  use_syslog: bool(),
  verbose: bool(),
  step_threshold: nonNegative(),
  first_step_threshold: nonNegative(),
} satisfies Record<string, ParameterSpec>;

const SERVO = {
  clock_servo: oneOf(['pi', 'linreg', 'ntpshm', 'nullf']),
  pi_proportional_const: nonNegative(),
  pi_integral_const: nonNegative(),
  sanity_freq_limit: int(0, INT_MAX),
  ntpshm_segment: int(INT_MIN, INT_MAX),
  kernel_leap: bool(),
} satisfies Record<string, ParameterSpec>;

const PTP4L: Record<string, ParameterSpec> = {
  ...COMMON,
  ...SERVO,
  // Clock and program options: [global] only.
  twoStepFlag: bool(),
  slaveOnly: { ...bool(), nameIn4: 'clientOnly' },
  clientOnly: { ...bool(), versions: ['4'] },
  priority1: int(0, 255),
  priority2: int(0, 255),
  domainNumber: int(0, 127),
  clockClass: int(0, 255),
  clockAccuracy: int(0, 255),
  offsetScaledLogVariance: int(0, 65535),
  clockIdentity: str(),
  utc_offset: int(0, INT_MAX),
  free_running: bool(),
  freq_est_interval: int(0, INT_MAX, 'any'),
  dataset_comparison: oneOf(['ieee1588', 'G.8275.x']),
  'G.8275.defaultDS.localPriority': int(1, 255),
  maxStepsRemoved: int(2, 255),
  assume_two_step: bool(),
  check_fup_sync: bool(),
  clock_type: oneOf(['OC', 'BC', 'P2P_TC', 'E2E_TC']),
  tx_timestamp_timeout: int(1, INT_MAX),
  pi_proportional_scale: nonNegative(),
  pi_proportional_exponent: real(),
  pi_proportional_norm_max: positiveAtMost(1),
  pi_integral_scale: nonNegative(),
  pi_integral_exponent: real(),
  pi_integral_norm_max: positiveAtMost(2),
  max_frequency: int(0, INT_MAX),
  initial_delay: int(0, INT_MAX),
  uds_address: bySite(str()),
  uds_ro_address: { ...bySite(str()), versions: ['4'] },
  dscp_event: int(0, 63),
  dscp_general: int(0, 63),
  socket_priority: int(0, 15),
  summary_interval: int(INT_MIN, INT_MAX),
  time_stamping: oneOf(['hardware', 'software', 'legacy', 'onestep', 'p2p1step']),
  productDescription: str(),
  revisionData: str(),
  userDescription: str(),
  manufacturerIdentity: str(),
  timeSource: int(16, 254),
  hwts_filter: oneOf(['normal', 'check', 'full']),
  servo_num_offset_values: int(0, INT_MAX),
  servo_offset_threshold: int(0, INT_MAX),
  slave_event_monitor: str(),
  write_phase_mode: bool(),
  tc_spanning_tree: bool(),
  gmCapable: bool(),
  leapfile: str(),
  // Port options: the [global] value is every port's default; a [port] section overrides it.
  delayAsymmetry: int(INT_MIN, INT_MAX, 'any'),
  logAnnounceInterval: logInterval(),
  logSyncInterval: logInterval(),
  operLogSyncInterval: logInterval(),
  logMinDelayReqInterval: logInterval(),
  logMinPdelayReqInterval: logInterval(),
  operLogPdelayReqInterval: logInterval(),
  inhibit_delay_req: bool('any'),
  announceReceiptTimeout: int(2, 255, 'any'),
  syncReceiptTimeout: int(0, 255, 'any'),
  transportSpecific: int(0, 15, 'any'),
  ignore_transport_specific: bool('any'),
  path_trace_enabled: bool('any'),
  follow_up_info: bool('any'),
  fault_reset_interval: int(-128, 127, 'any'),
  fault_badpeernet_interval: int(INT_MIN, INT_MAX, 'any'),
  delay_mechanism: oneOf(['E2E', 'P2P', 'Auto'], 'any'),
  hybrid_e2e: bool('any'),
  inhibit_multicast_service: bool('any'),
  net_sync_monitor: bool('any'),
  unicast_listen: bool('any'),
  unicast_master_table: int(0, INT_MAX, 'any'),
  unicast_req_duration: int(10, INT_MAX, 'any'),
  ptp_dst_mac: str('any'),
  p2p_dst_mac: str('any'),
  network_transport: oneOf(['UDPv4', 'UDPv6', 'L2'], 'any'),
  neighborPropDelayThresh: int(0, INT_MAX, 'any'),
  min_neighbor_prop_delay: int(INT_MIN, -1, 'any'),
  masterOnly: bool('any'),
  'G.8275.portDS.localPriority': int(1, 255, 'any'),
  tsproc_mode: oneOf(['filter', 'raw', 'filter_weight', 'raw_weight'], 'any'),
  delay_filter: oneOf(['moving_average', 'moving_median'], 'any'),
  delay_filter_length: int(1, INT_MAX, 'any'),
  egressLatency: int(INT_MIN, INT_MAX, 'any'),
  ingressLatency: int(INT_MIN, INT_MAX, 'any'),
  boundary_clock_jbod: bool('any'),
  udp_ttl: int(1, 255, 'any'),
  udp6_scope: int(0, 15, 'any'),
  asCapable: oneOf(['true', 'auto'], 'any'),
  BMCA: oneOf(['ptp', 'noop'], 'any'),
  inhibit_announce: bool('any'),
  ignore_source_id: bool('any'),
  msg_interval_request: bool('any'),
};

const PHC2SYS: Record<string, ParameterSpec> = {
  ...COMMON,
  ...SERVO,
  // The followed ptp4l's socket and domain: murm fills them in from the ptp4l instances on the host.
  domainNumber: bySite(int(0, 127)),
  uds_address: bySite(str()),
  transportSpecific: int(0, 15),
  ha_enabled: bool(),
  ha_priority: int(0, 254, 'port'),
  ha_uds_address: bySite(str('port')),
  ha_domainNumber: bySite(int(0, 127, 'port')),
};

const TS2PHC: Record<string, ParameterSpec> = {
  ...COMMON,
  free_running: bool(),
  leapfile: str(),
  max_frequency: int(0, INT_MAX),
  'ts2phc.nmea_serialport': str(),
  'ts2phc.nmea_remote_host': str(),
  'ts2phc.nmea_remote_port': str(),
  'ts2phc.pulsewidth': int(1_000_000, 999_000_000),
  'ts2phc.channel': int(0, INT_MAX, 'any'),
  'ts2phc.extts_correction': int(INT_MIN, INT_MAX, 'any'),
  'ts2phc.extts_polarity': oneOf(['rising', 'falling', 'both'], 'any'),
  'ts2phc.master': bool('any'),
  'ts2phc.pin_index': int(0, INT_MAX, 'any'),
};

const SYNCE4L: Record<string, ParameterSpec> = {
  logging_level: int(0, 7),
  message_tag: bySite(str()),
  use_syslog: bool(),
  verbose: bool(),
  network_option: int(1, 2, 'device'),
  extended_tlv: bool('device'),
  recover_time: int(0, INT_MAX, 'device'),
  clock_id: str('device'),
  module_name: str('device'),
  dnu_prio: int(0, 255, 'device'),
  eec_get_state_cmd: str('device'),
  eec_holdover_value: int(0, 255, 'device'),
  eec_locked_ho_value: int(0, 255, 'device'),
  eec_locked_value: int(0, 255, 'device'),
  eec_freerun_value: int(0, 255, 'device'),
  eec_invalid_value: int(0, 255, 'device'),
  sync: bool('port'),
  tx_heartbeat_msec: int(1, INT_MAX, 'port'),
  rx_heartbeat_msec: int(1, INT_MAX, 'port'),
  recover_clock_enable_cmd: str('port'),
  recover_clock_disable_cmd: str('port'),
  allowed_qls: str('port'),
  allowed_ext_qls: str('port'),
};

const CLOCK: Record<string, ParameterSpec> = {
  sma1: oneOf(['input', 'output'], 'port'),
  sma2: oneOf(['input', 'output'], 'port'),
  'u.fl1': oneOf(['output'], 'port'),
  'u.fl2': oneOf(['input'], 'port'),
  synce_rclka: oneOf(['enabled'], 'port'),
  synce_rclkb: oneOf(['enabled'], 'port'),
};

const PARAMETERS: Record<PtpService, Readonly<Record<string, ParameterSpec>>> = {
  ptp4l: PTP4L,
  phc2sys: PHC2SYS,
  ts2phc: TS2PHC,
  synce4l: SYNCE4L,
  clock: CLOCK,
};

/** The spec of `name` for `service` on a host running linuxptp `version`, or undefined when unknown there. */
export function findParameter(
  service: PtpService,
  version: LinuxptpVersion,
  name: string,
): ParameterSpec | undefined {
  const spec = Object.hasOwn(PARAMETERS[service], name) ? PARAMETERS[service][name] : undefined;
  if (spec?.versions && !spec.versions.includes(version)) return undefined;
  return spec;
}

/** The name written to the file on a `version` host: 4.x gets the new name where one exists. */
export function fileParameterName(service: PtpService, version: LinuxptpVersion, name: string): string {
  const spec = findParameter(service, version, name);
  return version === '4' && spec?.nameIn4 ? spec.nameIn4 : name;
}

/** Why `value` is not valid for `spec` ("must be 0..127"), or undefined when it is. */
export function describeBadValue(spec: ParameterSpec, value: string): string | undefined {
  const type = spec.type;
  switch (type.kind) {
    case 'int': {
      const number = parseInteger(value);
      if (number === undefined || number < type.min || number > type.max) {
        return `must be an integer ${type.min}..${type.max}`;
      }
      return undefined;
    }
    case 'double': {
      const number = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(value) ? Number(value) : Number.NaN;
      const isTooLow = type.isMinExclusive ? number <= type.min : number < type.min;
      if (Number.isNaN(number) || isTooLow || (type.max !== undefined && number > type.max)) {
        return `must be a number ${type.isMinExclusive ? 'above' : 'at least'} ${type.min}${type.max === undefined ? '' : ` and at most ${type.max}`}`;
      }
      return undefined;
    }
    case 'bool':
      return value === '0' || value === '1' ? undefined : 'must be 0 or 1';
    case 'enum':
      return type.values.includes(value) ? undefined : `must be one of ${type.values.join(', ')}`;
    case 'string':
      return value === '' || /[\r\n]/.test(value) ? 'must be one non-empty line' : undefined;
  }
}

/** Decimal or 0x-hexadecimal, as linuxptp's strtol(…, 0) reads them; a leading 0 would mean octal there. */
function parseInteger(value: string): number | undefined {
  if (/^[-+]?0x[0-9a-f]+$/i.test(value)) return Number.parseInt(value, 16);
  if (/^[-+]?(0|[1-9]\d*)$/.test(value)) return Number(value);
  return undefined;
}
