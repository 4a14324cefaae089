import type { ApiClient } from '../cli/client.js';
import { AppError } from '../core/errors.js';
import { decodeJoinBundle } from './sim-model.js';

/**
 * The administrator's side of `murm sim`, through the system controller's REST API: which simulated
 * subclouds exist, adding new ones in bulk (their one-time enrollment tokens come back in the
 * bundles) and managing them.
 */

/** Subclouds per `POST /v1/subclouds:batch` (the API's limit). */
const BATCH_SIZE = 5_000;
const PAGE_SIZE = 1_000;
const MAX_PAGES = 1_000;

interface SubcloudPage {
  items: { name: string }[];
  next?: string;
}

/** Names of the subclouds on the controller that start with `<prefix>-`. */
export async function listSimSubclouds(api: ApiClient, prefix: string): Promise<Set<string>> {
  const names = new Set<string>();
  let next: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await api.get<SubcloudPage>('/v1/subclouds', { limit: PAGE_SIZE, next });
    for (const item of answer.items) if (item.name.startsWith(`${prefix}-`)) names.add(item.name);
    next = answer.next;
    if (next === undefined || answer.items.length === 0) break;
  }
  return names;
}

/** Adds `names` in batches of 5,000; returns each name's one-time enrollment token. */
export async function addSimSubclouds(
  api: ApiClient,
  names: readonly string[],
  onBatch?: (added: number) => void,
): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (let start = 0; start < names.length; start += BATCH_SIZE) {
    const batch = names.slice(start, start + BATCH_SIZE).map((name) => ({ name }));
    const answer = await api.post<{ items: { subcloud: { name: string }; bundle: string }[] }>(
      '/v1/subclouds:batch',
      { subclouds: batch },
    );
    for (const item of answer.items) {
      tokens.set(item.subcloud.name, decodeJoinBundle(item.bundle).token);
    }
    onBatch?.(tokens.size);
  }
  const missing = names.filter((n) => !tokens.has(n));
  if (missing.length > 0) {
    throw new AppError(
      'internal',
      `the controller returned no bundle for "${missing[0]}" (${missing.length} missing)`,
    );
  }
  return tokens;
}

/** Manages each subcloud, `concurrency` calls at a time; returns the names that failed. */
export async function manageSimSubclouds(
  api: ApiClient,
  names: readonly string[],
  concurrency = 8,
): Promise<string[]> {
  const failed: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const name = names[next++];
      if (name === undefined) break;
      try {
        await api.post(`/v1/subclouds/${encodeURIComponent(name)}/manage`, {});
      } catch {
        failed.push(name);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failed;
}
