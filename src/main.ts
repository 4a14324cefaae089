import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type https from 'node:https';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { registerCaRotationRoutes } from './certs/ca-rotation-routes.js';
import { CaRotation } from './certs/ca-rotation-service.js';
import { issueClientCertificate } from './certs/client-certificates.js';
import { registerManagedCertificateRoutes } from './certs/managed-routes.js';
import { ManagedCertificates } from './certs/managed-service.js';
import { ManagedCertificateStore } from './certs/managed-store.js';
import { certificateSourcesMigration } from './certs/migrations/0004-certificate-sources.js';
import { managedCertificatesMigration } from './certs/migrations/0005-managed-certificates.js';
import { trustedCasMigration } from './certs/migrations/0006-trusted-cas.js';
import { certificateSettingsMigration } from './certs/migrations/0007-certificate-settings.js';
import { CertificateMonitor } from './certs/monitor.js';
import { registerCertificateRoutes } from './certs/routes.js';
import { ensureSitePki } from './certs/site-pki.js';
import { CertificateSourceStore } from './certs/source-store.js';
import { trustedCaSyncSource, trustedCaSyncTarget } from './certs/trust-fleet-sync.js';
import { registerTrustedCaRoutes } from './certs/trust-routes.js';
import { TrustedCas } from './certs/trust-service.js';
import { TrustedCaStore } from './certs/trust-store.js';
import { type Clock, systemClock } from './core/clock.js';
import type { ServeConfig } from './core/config.js';
import { type Database, openDatabase } from './core/db/database.js';
import { migrateToLatest, type NamedMigration } from './core/db/migrate.js';
import { AppError } from './core/errors.js';
import type { RequestRecorder } from './core/http/access.js';
import { createHttpMetrics } from './core/http/metrics.js';
import type { RouteInfo } from './core/http/openapi.js';
import type { HttpApp } from './core/http/routes.js';
import { createHttpServer } from './core/http/server.js';
import { EventStreams } from './core/http/sse.js';
import { UpgradeRouter } from './core/http/upgrades.js';
import { createLogger, type Logger } from './core/log.js';
import { SubcloudLink } from './dcloud/link.js';
import { registerDcLinkRoutes } from './dcloud/link-routes.js';
import { dcloudMigration } from './dcloud/migrations/0009-dcloud.js';
import { registerDcRoutes } from './dcloud/routes.js';
import { DcService } from './dcloud/service.js';
import { DcStore } from './dcloud/store.js';
import { UPLINK_PATH } from './dcloud/uplink-protocol.js';
import { UplinkServer } from './dcloud/uplink-server.js';
import { WorkerUplinkTransport } from './dcloud/uplink-workers.js';
import { loadAlarmCatalog } from './fault/catalog.js';
import { registerFaultMetrics } from './fault/metrics.js';
import { faultMigration } from './fault/migrations/0002-fault.js';
import { faultWebhooksMigration } from './fault/migrations/0003-fault-webhooks.js';
import { registerFaultRoutes } from './fault/routes.js';
import { FaultService } from './fault/service.js';
import { FaultStore } from './fault/store.js';
import { registerAlarmWebhookRoutes } from './fault/webhook-routes.js';
import { AlarmWebhookService } from './fault/webhook-service.js';
import { AlarmWebhookStore } from './fault/webhook-store.js';
import { startFdoListener } from './fdo/rendezvous/listener.js';
import { fdoMigration } from './fdo/rendezvous/migrations/0013-fdo.js';
import { DEFAULT_RENDEZVOUS_SETTINGS, type RendezvousSettings } from './fdo/rendezvous/model.js';
import { createRendezvous, type Rendezvous, resolveRendezvousSettings } from './fdo/rendezvous/rendezvous.js';
import { registerFdoRoutes } from './fdo/rendezvous/routes.js';
import { AuditLog } from './identity/audit-log.js';
import { registerAuditRoutes } from './identity/audit-routes.js';
import { AuditStore } from './identity/audit-store.js';
import { identitySyncSource, identitySyncTarget } from './identity/fleet-sync.js';
import { identityMigration } from './identity/migrations/0001-identity.js';
import { fleetWideMigration } from './identity/migrations/0010-fleet-wide.js';
import { registerIdentityRoutes } from './identity/routes.js';
import { IdentityService } from './identity/service.js';
import { IdentityStore } from './identity/store.js';
import { AgentChannelServer } from './inventory/agent-channel.js';
import { AGENT_CHANNEL_PATH, AGENT_ENROLL_PATH } from './inventory/agent-protocol.js';
import { inventoryMigration } from './inventory/migrations/0008-inventory.js';
import { FIRST_CONTROLLER } from './inventory/model.js';
import { registerInventoryRoutes } from './inventory/routes.js';
import { InventoryService } from './inventory/service.js';
import { InventoryStore } from './inventory/store.js';
import { ptpMigration } from './ptp/migrations/0011-ptp.js';
import { ptpLinuxptpDetectionMigration } from './ptp/migrations/0014-ptp-linuxptp-detection.js';
import { oranSubscriptionsMigration } from './ptp/oran/migrations/0012-oran-subscriptions.js';
import { API_PREFIX } from './ptp/oran/model.js';
import { OranNotificationServer } from './ptp/oran/server.js';
import { OranNotificationService } from './ptp/oran/service.js';
import { registerPtpRoutes } from './ptp/routes.js';
import { PtpService } from './ptp/service.js';
import { PtpStatusRegistry } from './ptp/status-registry.js';
import { registerPtpStatusRoutes } from './ptp/status-routes.js';
import { PtpStatusService } from './ptp/status-service.js';
import { PtpStore } from './ptp/store.js';

/** Every domain's migrations, in the order they must run. */
const MIGRATIONS: readonly NamedMigration[] = [
  identityMigration,
  faultMigration,
  faultWebhooksMigration,
  certificateSourcesMigration,
  managedCertificatesMigration,
  trustedCasMigration,
  certificateSettingsMigration,
  inventoryMigration,
  dcloudMigration,
  fleetWideMigration,
  ptpMigration,
  oranSubscriptionsMigration,
  fdoMigration,
  ptpLinuxptpDetectionMigration,
];

/** The HTTPS server certificate is the managed certificate of this name. */
const API_SERVER_CERTIFICATE = 'api-server';
const API_SERVER_DURATION_SECONDS = 365 * 86_400;
const API_SERVER_RENEW_BEFORE_SECONDS = 30 * 86_400;
const RENEWAL_INTERVAL_MS = 3_600_000;

/** A wired site controller: its HTTP app and services, not yet listening. */
export interface Site {
  readonly app: HttpApp;
  readonly routes: readonly RouteInfo[];
  readonly database: Database;
  readonly identity: IdentityService;
  readonly audit: AuditLog;
  readonly fault: FaultService;
  readonly webhooks: AlarmWebhookService;
  readonly certificates: CertificateMonitor;
  readonly managedCertificates: ManagedCertificates;
  readonly trustedCas: TrustedCas;
  readonly inventory: InventoryService;
  readonly agentChannel: AgentChannelServer;
  /** The FDO rendezvous (TO0/TO1): its admin use cases and protocol engine; a listener serves it. */
  readonly fdo: Rendezvous;
  /** Every host's ptp4l status as its agent reports it; the O-RAN notification API reads it. */
  readonly ptpStatus: PtpStatusRegistry;
  /** The O-RAN O-Cloud Notification API's use cases: present when `oranListen` is configured. */
  readonly oranNotifications: OranNotificationService | undefined;
  /** The distributed-cloud module: present on a system controller (`--system-controller`). */
  readonly dc: DcService | undefined;
  readonly uplinks: UplinkServer | undefined;
  /** The uplink worker processes, instead of `uplinks`, when `MURM_UPLINK_WORKERS` > 0. */
  readonly uplinkWorkers: WorkerUplinkTransport | undefined;
  /** This site's link to its system controller (joined or not). */
  readonly link: SubcloudLink;
  /** The URL other sites and agents reach this site at (bundles carry it); set once listening. */
  setPublicUrl(url: string): void;
  /**
   * While starting, `/readyz` answers 503: `murm serve` listens before its local agent, uplinks and
   * extra listeners are up, and "ready" should mean all of it is. A site opened without serving is ready.
   */
  setStarting(isStarting: boolean): void;
  close(): Promise<void>;
}

/** What `openSite` needs; tests pass their own clock, logger and TLS (or none, for in-process requests). */
export interface SiteOptions {
  config: ServeConfig;
  clock?: Clock;
  logger?: Logger;
  /** Server key and certificate; `ca` (the site CA bundle) also turns on client certificates for agents. */
  tls?: { key: string; cert: string; ca?: string } | undefined;
  /** FDO rendezvous tunables (default: DEFAULT_RENDEZVOUS_SETTINGS). */
  fdoSettings?: RendezvousSettings;
}

/** Composition root: database → migrations → services → HTTP. The only place that wires things. */
export async function openSite(options: SiteOptions): Promise<Site> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const database = await openDatabase(config.database);
  try {
    await migrateToLatest(database, MIGRATIONS);
  } catch (error) {
    await database.close();
    throw error;
  }
  const identity = new IdentityService(
    new IdentityStore(database),
    clock,
    config.passwordPolicy,
    config.tokenTtlSeconds,
  );
  const audit = new AuditLog(
    new AuditStore(database),
    clock,
    path.join(config.dataDir, 'audit', 'audit.jsonl'),
  );
  const catalog = loadAlarmCatalog();
  const fault = await FaultService.open({
    store: new FaultStore(database),
    catalog,
    clock,
    maxEvents: config.eventLogMax,
  });
  const managedCertificates = new ManagedCertificates({
    store: new ManagedCertificateStore(database),
    clock,
    logger,
    dataDir: config.dataDir,
  });
  await managedCertificates.open();
  const certificates = new CertificateMonitor({
    store: new CertificateSourceStore(database),
    fault,
    clock,
    logger,
    // The platform's own certificates: the site root CA and the certificates it issued and renews,
    // among them the HTTPS server certificate (`pki/managed/api-server.crt`).
    platformFiles: [
      { id: 'platform-root-ca', path: path.join(config.dataDir, 'pki', 'ca.crt') },
      { id: 'platform-managed', path: managedCertificates.directory },
    ],
    auditIntervalMs: config.certAuditIntervalSeconds * 1000,
  });
  await certificates.open();
  const metrics = createHttpMetrics();
  const { webhookFailures } = registerFaultMetrics(metrics.registry, fault);
  const trustedCas = new TrustedCas({
    store: new TrustedCaStore(database),
    clock,
    logger,
    dataDir: config.dataDir,
  });
  await trustedCas.open();
  const webhooks = new AlarmWebhookService({
    store: new AlarmWebhookStore(database),
    clock,
    alarmChanges: fault,
    logger,
    onDeliveryFailure: () => webhookFailures.inc(),
    trustedCaBundle: () => trustedCas.bundle(),
  });
  const inventory = new InventoryService({
    store: new InventoryStore(database),
    fault,
    clock,
    logger,
    heartbeat: { intervalMs: config.heartbeatIntervalMs, missed: config.heartbeatMissed },
    initialSystem: { name: os.hostname(), systemType: config.systemType, softwareVersion: packageVersion() },
    issueAgentCertificate: (csrPem, hostname) =>
      issueClientCertificate(
        config.dataDir,
        clock,
        csrPem,
        hostname,
        config.agentCertificateLifetimeSeconds && config.agentCertificateLifetimeSeconds * 1000,
      ),
  });
  await inventory.open();
  const ptp = new PtpService({ store: new PtpStore(database), inventory, logger });
  await ptp.open();
  inventory.addConfigRenderer((hostname) => ptp.hostConfig(hostname));
  ptp.onChange((hostname) => inventory.refreshHostConfig(hostname));
  const ptpStatus = new PtpStatusRegistry({ clock });
  const ptpStatusService = new PtpStatusService({ registry: ptpStatus, fault, configuration: ptp, logger });
  ptpStatusService.open();
  ptp.onChange((hostname) => ptpStatusService.hostChanged(hostname));
  inventory.addAgentFrameHandler((hostname, frame) => ptpStatusService.handleFrame(hostname, frame));
  inventory.addAgentFrameHandler((hostname, frame) => ptp.hosts.handleAgentFrame(hostname, frame));
  inventory.subscribe({
    configChanged: () => undefined,
    // Also called when a host enrolls again; only a deleted host loses its statuses.
    removed: (hostname) => {
      if (!inventory.listHosts().some((host) => host.hostname === hostname)) {
        ptpStatusService.hostRemoved(hostname);
      }
    },
  });
  const oranNotifications = config.oranListen
    ? new OranNotificationService({ database, source: ptpStatus, clock, logger })
    : undefined;
  await oranNotifications?.start();
  const streams = new EventStreams();
  let isClosing = false;
  let isStarting = false;
  const { app, routes } = createHttpServer({
    logger,
    tls: options.tls,
    accessControl: identity,
    recordRequest: (record) => audit.record(record),
    metrics,
    version: packageVersion(),
    checkReady: async () => {
      if (isClosing) throw new AppError('unavailable', 'shutting down');
      if (isStarting) throw new AppError('unavailable', 'starting');
      await sql`select 1`.execute(database.db);
    },
  });
  registerIdentityRoutes(app, identity);
  registerAuditRoutes(app, audit);
  registerFaultRoutes(app, { fault, catalog, streams });
  registerAlarmWebhookRoutes(app, webhooks);
  registerCertificateRoutes(app, certificates);
  registerManagedCertificateRoutes(app, managedCertificates);
  registerCaRotationRoutes(
    app,
    new CaRotation({ dataDir: config.dataDir, managed: managedCertificates, clock, logger }),
  );
  registerTrustedCaRoutes(app, trustedCas);
  registerInventoryRoutes(app, inventory);
  registerPtpRoutes(app, ptp);
  registerPtpStatusRoutes(app, { inventory, status: ptpStatusService });
  const fdo = createRendezvous({
    database,
    clock,
    logger,
    settings: options.fdoSettings ?? DEFAULT_RENDEZVOUS_SETTINGS,
    registry: metrics.registry,
  });
  registerFdoRoutes(app, fdo.registrations);
  const agentChannel = new AgentChannelServer(inventory, logger, (record) => audit.record(record));
  const upgrades = new UpgradeRouter(logger);
  upgrades.route(AGENT_CHANNEL_PATH, (request, socket, head) => agentChannel.upgrade(request, socket, head));
  let publicUrl = `https://127.0.0.1:${config.listen.port || 7443}`;
  const dcloud = await openDistributedCloud({
    config,
    database,
    clock,
    logger,
    app,
    upgrades,
    fault,
    identity,
    trustedCas,
    recordRequest: (record) => audit.record(record),
    publicUrl: () => publicUrl,
  });
  upgrades.attach(app.server);
  // Live streams never end by themselves; end them so that close() can finish in-flight requests.
  app.addHook('preClose', async () => streams.closeAll());
  await app.ready();
  return {
    app,
    routes,
    database,
    identity,
    audit,
    fault,
    webhooks,
    certificates,
    managedCertificates,
    trustedCas,
    inventory,
    agentChannel,
    fdo,
    ptpStatus,
    oranNotifications,
    ...dcloud,
    setPublicUrl(url) {
      publicUrl = url;
    },
    setStarting(value) {
      isStarting = value;
    },
    async close() {
      isClosing = true;
      agentChannel.close();
      dcloud.uplinks?.close();
      await dcloud.uplinkWorkers?.close();
      dcloud.dc?.close();
      await dcloud.link.stop();
      managedCertificates.stop();
      certificates.stop();
      await app.close();
      await oranNotifications?.close();
      await fault.settled();
      // After the fault service settles, so changes committed meanwhile still reach the outbox.
      await webhooks.stop();
      await audit.close();
      await database.close();
    },
  };
}

/**
 * The distributed-cloud parts: on a system controller the subcloud service, its routes and the uplink
 * server; on every site the link to a system controller (it may join one later). Sync endpoints are
 * listed here: a new one is a source/target pair from its domain.
 */
async function openDistributedCloud(parts: {
  config: ServeConfig;
  database: Database;
  clock: Clock;
  logger: Logger;
  app: HttpApp;
  upgrades: UpgradeRouter;
  fault: FaultService;
  identity: IdentityService;
  trustedCas: TrustedCas;
  recordRequest: RequestRecorder;
  publicUrl: () => string;
}): Promise<{
  dc: DcService | undefined;
  uplinks: UplinkServer | undefined;
  uplinkWorkers: WorkerUplinkTransport | undefined;
  link: SubcloudLink;
}> {
  const { config, clock, logger, app, fault, identity, trustedCas } = parts;
  let dc: DcService | undefined;
  let uplinks: UplinkServer | undefined;
  let uplinkWorkers: WorkerUplinkTransport | undefined;
  if (config.systemController) {
    const uplinkOptions = { logger, audit: parts.recordRequest, pingIntervalMs: config.uplinkPingIntervalMs };
    const workers = config.uplinkWorkers ?? 0;
    if (workers > 0) {
      uplinkWorkers = new WorkerUplinkTransport({
        ...uplinkOptions,
        workers,
        listen: config.uplinkListen ?? { host: config.listen.host, port: 0 },
        logLevel: config.logLevel,
        dataDir: config.dataDir,
      });
    } else {
      uplinks = new UplinkServer(uplinkOptions);
    }
    const transport = uplinkWorkers ?? (uplinks as UplinkServer);
    dc = new DcService({
      store: new DcStore(parts.database),
      fault,
      clock,
      logger,
      issueCertificate: (csrPem, name) => issueClientCertificate(config.dataDir, clock, csrPem, name),
      controllerUrl: parts.publicUrl,
      uplinkUrl: () => uplinkWorkers?.uplinkUrl(parts.publicUrl()),
      caPem: () => readSiteCaBundle(config.dataDir),
      sources: [identitySyncSource(identity), trustedCaSyncSource(trustedCas)],
      transport,
      pingIntervalMs: config.uplinkPingIntervalMs,
    });
    transport.bind(dc);
    await dc.open();
    registerDcRoutes(app, dc);
    const server = uplinks;
    if (server) {
      parts.upgrades.route(UPLINK_PATH, (request, socket, head) => server.upgrade(request, socket, head));
    }
  }
  const link = new SubcloudLink({
    dataDir: config.dataDir,
    logger: logger.child({ component: 'uplink' }),
    targets: [identitySyncTarget(identity, logger), trustedCaSyncTarget(trustedCas, logger)],
    alarmCounts: () => {
      const { critical, major, minor, warning } = fault.summary();
      return { critical, major, minor, warning };
    },
    onAlarmChange: (listener) => fault.subscribe(() => listener()),
    softwareVersion: packageVersion(),
  });
  registerDcLinkRoutes(app, {
    join: async (bundle) => {
      await link.join(bundle);
      markFleetManaged(identity, trustedCas);
    },
    status: () => link.status(),
  });
  return { dc, uplinks, uplinkWorkers, link };
}

/** Once joined, fleet-wide users and CAs come from the system controller and are read-only here. */
function markFleetManaged(identity: IdentityService, trustedCas: TrustedCas): void {
  identity.setFleetManaged(true);
  trustedCas.setFleetManaged(true);
}

function readSiteCaBundle(dataDir: string): string {
  try {
    return fs.readFileSync(path.join(dataDir, 'pki', 'ca.crt'), 'utf8');
  } catch {
    return '';
  }
}

/** `murm serve`: PKI, bootstrap admin, listen, and graceful shutdown on SIGTERM/SIGINT. */
export async function serve(config: ServeConfig): Promise<void> {
  const logger = createLogger(config.logLevel);
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const pki = await ensureSitePki({
    dataDir: config.dataDir,
    hosts: certificateHosts(config.listen.host),
    now: new Date(),
  });
  const caBundle = () => fs.readFileSync(pki.caCertPath, 'utf8');
  const site = await openSite({
    config,
    logger,
    fdoSettings: resolveRendezvousSettings(process.env),
    tls: { key: pki.serverKeyPem, cert: pki.serverCertPem, ca: caBundle() },
  });
  await serveManagedServerCertificate(site, config.listen.host, pki.caCertPath);
  await site.uplinkWorkers?.start();
  const admin = await site.identity.bootstrapAdmin(config.adminPassword);
  site.setStarting(true);
  await site.app.listen({ host: config.listen.host, port: config.listen.port });
  // Delivery runs only in a serving process; in-process tests call deliverDue() themselves.
  site.webhooks.start();
  site.certificates.start();
  site.managedCertificates.start(RENEWAL_INTERVAL_MS);
  const cleanup = setInterval(
    () => void site.identity.deleteExpiredTokens().catch(() => undefined),
    3_600_000,
  );
  cleanup.unref();
  const heartbeats = setInterval(
    () => {
      site.inventory
        .checkHeartbeats()
        .catch((error: unknown) => logger.error({ err: error }, 'heartbeat check failed'));
    },
    Math.max(100, Math.floor(config.heartbeatIntervalMs / 2)),
  );
  heartbeats.unref();
  site.setPublicUrl(process.env.MURM_PUBLIC_URL || listenUrl(config, site.app));
  site.uplinks?.start();
  const availability = site.dc
    ? setInterval(() => {
        site.dc
          ?.checkAvailability()
          .catch((error: unknown) => logger.error({ err: error }, 'availability check failed'));
      }, 1000)
    : undefined;
  availability?.unref();
  if (await site.link.startIfJoined()) markFleetManaged(site.identity, site.trustedCas);
  else if (config.joinBundle) await joinOnStart(site, config.joinBundle, logger);
  const localAgent = config.localAgent
    ? await startLocalAgent(site, config, pki.caCertPath, logger)
    : undefined;
  const oran = await startOranServer(site, config, logger);
  const fdoListener = config.fdoListen
    ? await serveRendezvous(site.fdo, config.fdoListen, logger)
    : undefined;
  site.setStarting(false);
  printBanner(config, pki.caCertPath, site.app, admin, oran?.url, fdoListener?.url);

  let isStopping = false;
  const stop = (signal: string) => {
    if (isStopping) process.exit(1);
    isStopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    clearInterval(cleanup);
    clearInterval(heartbeats);
    if (availability) clearInterval(availability);
    Promise.resolve(localAgent?.stop())
      .then(() => oran?.server.close())
      .then(() => fdoListener?.close())
      .then(() => site.close())
      .then(
        () => {
          logger.info('stopped');
          logger.flush();
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * The FDO listener (devices and owners reach it without an API token: the protocol authenticates them)
 * and the hourly sweep of expired registrations (reads ignore them already).
 */
async function serveRendezvous(fdo: Rendezvous, listen: { host: string; port: number }, logger: Logger) {
  const listener = await startFdoListener({ protocol: fdo.protocol, ...listen, logger });
  const sweep = setInterval(() => {
    fdo.registrations.sweep().catch((error: unknown) => logger.error({ err: error }, 'fdo sweep failed'));
  }, 3_600_000);
  sweep.unref();
  return {
    url: `${listener.url}/fdo/101/msg/`,
    async close() {
      clearInterval(sweep);
      await listener.close();
    },
  };
}

/** `murm rendezvous`: only the FDO listener, on a site's database (that site's API manages it). */
export async function runRendezvous(
  config: ServeConfig,
  listen: { host: string; port: number },
): Promise<void> {
  const logger = createLogger(config.logLevel);
  const database = await openDatabase(config.database);
  try {
    await migrateToLatest(database, MIGRATIONS);
  } catch (error) {
    await database.close();
    throw error;
  }
  const fdo = createRendezvous({
    database,
    clock: systemClock,
    logger,
    settings: resolveRendezvousSettings(process.env),
  });
  const served = await serveRendezvous(fdo, listen, logger);
  process.stdout.write(`Murmuration FDO rendezvous (no token): ${served.url}\n`);
  const stop = () => {
    served
      .close()
      .then(() => database.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** `murm serve --join`: join now; a refusal is logged and the site runs on (autonomy first). */
async function joinOnStart(site: Site, bundle: string, logger: Logger): Promise<void> {
  try {
    await site.link.join(bundle);
    markFleetManaged(site.identity, site.trustedCas);
    logger.info('joined the system controller; the uplink is starting');
  } catch (error) {
    logger.error({ err: error }, 'could not join the system controller; the site runs on its own');
  }
}

/**
 * The all-in-one site's own agent for controller-0: the same runtime as `murm agent`, in this process,
 * talking to this listener over HTTPS like any other agent, with its root under the data dir.
 */
async function startLocalAgent(site: Site, config: ServeConfig, caPath: string, logger: Logger) {
  const root = path.join(config.dataDir, 'agent-root');
  const stateDir = path.join(config.dataDir, 'agent');
  const isEnrolled = fs.existsSync(path.join(stateDir, 'agent.crt'));
  const token = isEnrolled ? undefined : (await site.inventory.issueEnrollmentToken(FIRST_CONTROLLER)).token;
  const { startAgent } = await import('./agent/runtime.js');
  return startAgent({
    controller: listenUrl(config, site.app),
    caFile: caPath,
    ...(token === undefined ? {} : { token }),
    // In the same process: spend the token through the service (audited as the HTTP route would be).
    enroll: async (request) => {
      const enrolled = await site.inventory.enroll(request.token, request.csr);
      await site.audit.record({
        event: 'agent.enroll',
        username: `agent:${enrolled.hostname}`,
        roles: [],
        source: 'local',
        method: 'POST',
        path: AGENT_ENROLL_PATH,
        target: enrolled.hostname,
        status: 201,
        requestId: randomUUID(),
        detail: 'in-process agent',
      });
      return enrolled;
    },
    root,
    stateDir,
    logger: logger.child({ component: 'agent', host: FIRST_CONTROLLER }),
  });
}

/**
 * The HTTPS server certificate is the managed certificate `api-server`: issued (or renewed, when the
 * host names changed) before listening, and loaded into the TLS context again whenever it is renewed,
 * so new connections get the new certificate without a restart (connections open keep the old one).
 */
async function serveManagedServerCertificate(site: Site, listenHost: string, caPath: string): Promise<void> {
  const hosts = certificateHosts(listenHost);
  const isChanged = await site.managedCertificates.ensure({
    name: API_SERVER_CERTIFICATE,
    dns: [...new Set(['localhost', ...hosts.filter((host) => isIP(host) === 0)])],
    ips: [...new Set(['127.0.0.1', '::1', ...hosts.filter((host) => isIP(host) !== 0)])],
    keyType: 'ecdsa-p256',
    durationSeconds: API_SERVER_DURATION_SECONDS,
    renewBeforeSeconds: API_SERVER_RENEW_BEFORE_SECONDS,
  });
  // The monitor evaluated pki/managed before this certificate was written; let it see the new one.
  if (isChanged) await site.certificates.audit();
  const server = site.app.server as unknown as https.Server;
  const load = async () => {
    const { certPem, keyPem, caPem } = await site.managedCertificates.exportKey(API_SERVER_CERTIFICATE);
    // The site CA bundle verifies host agents' client certificates on the same listener.
    const tls = { key: keyPem, cert: certPem + caPem, ca: fs.readFileSync(caPath, 'utf8') };
    server.setSecureContext(tls);
    // The uplink workers present the same server certificate.
    site.uplinkWorkers?.setTls(tls);
  };
  site.managedCertificates.onRenewed(async (name) => {
    if (name === API_SERVER_CERTIFICATE) await load();
  });
  await load();
}

/**
 * The O-RAN notification API on its own plain-HTTP listener (`--oran-listen`): the standard gives it
 * no authentication, so it stays off the token-protected API and on an address the operator chose.
 */
async function startOranServer(site: Site, config: ServeConfig, logger: Logger) {
  const service = site.oranNotifications;
  if (service === undefined || config.oranListen === undefined) return undefined;
  const server = new OranNotificationServer({ service, logger: logger.child({ component: 'oran' }) });
  const port = await server.listen(config.oranListen.port, config.oranListen.host);
  return { server, url: `http://${urlHost(config.oranListen.host)}:${port}${API_PREFIX}` };
}

function printBanner(
  config: ServeConfig,
  caPath: string,
  app: HttpApp,
  admin: { isCreated: boolean; password: string | undefined },
  oranUrl: string | undefined,
  fdoUrl?: string | undefined,
): void {
  const url = listenUrl(config, app);
  const database = config.database.startsWith('sqlite:') ? config.database.slice(7) : 'PostgreSQL';
  const lines = [
    `Murmuration site controller is ready at ${url}`,
    `  data dir: ${config.dataDir}`,
    `  database: ${database}`,
    `  site CA:  ${caPath}`,
  ];
  if (oranUrl !== undefined) lines.push(`  O-RAN notification API (no token): ${oranUrl}`);
  if (fdoUrl !== undefined) lines.push(`  FDO rendezvous (no token): ${fdoUrl}`);
  if (admin.isCreated) {
    lines.push(
      admin.password && !config.adminPassword
        ? `  first start: bootstrap user "admin", password (shown only now): ${admin.password}`
        : '  first start: bootstrap user "admin" with the password from MURM_ADMIN_PASSWORD',
    );
  }
  lines.push('Log in with:', `  npx murm login --url ${url} --ca ${caPath} --username admin`, '');
  process.stdout.write(lines.join('\n'));
  process.stdout.write('\n');
}

function listenUrl(config: ServeConfig, app: HttpApp): string {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.listen.port;
  return `https://${urlHost(config.listen.host)}:${port}`;
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Names the server certificate must cover: the listen address, this host's name and addresses. */
function certificateHosts(listenHost: string): string[] {
  const hosts = [listenHost, 'localhost', os.hostname()];
  if (listenHost === '0.0.0.0' || listenHost === '::') {
    hosts.splice(0, 1);
    for (const addresses of Object.values(os.networkInterfaces())) {
      for (const address of addresses ?? []) hosts.push(address.address.split('%')[0] ?? address.address);
    }
  }
  return [...new Set(hosts)];
}

function packageVersion(): string {
  const file = new URL('../package.json', import.meta.url);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}
