/**
 * What the fault suite's commands, settling and invariants share: the model of a sequence, the system
 * under test, and the small helpers every command uses.
 */
import fc from 'fast-check';
import type { BatchService, BatchStatus } from '../../lib';
import { ENDED_BATCH_STATUSES } from '../../lib/statuses';
import type { INestApplicationContext } from '@nestjs/common';
import type { ChildConfig, RunBudget } from './chaos-child';
import { startChild, type ChaosChild } from './children';
import { withClient } from '../support/with-client';
import { CLUSTER_CLIENT, type PrivateCluster } from './cluster';

/** Every lease of the suite: short, so that settling after a kill is quick. */
export const LEASE_MS = 1500;
export const ITEM_TIMEOUT_MS = 1500;
/** How long the processor spends on a row, unless the command set says (`Real.itemPauseMs`). */
export const ITEM_PAUSE_MS = 5;
/** How long the children may go on after the last command, before the rest are killed. */
export const END_GRACE_MS = 10_000;
/** The longest a settling processBatch may take before the suite calls it hung. */
export const SETTLE_CALL_TIMEOUT_MS = 45_000;

/** What the suite knows of the sequence (the model of fast-check's model-based testing). */
export interface Model {
  /** Batches created by the sequence (roots of their trees). */
  created: string[];
  /** Idempotency key → the batch it made and the JSON of its rows. */
  keys: Map<string, { batchId: string; content: string }>;
  /** Batches run with continueOnError: false, and batches whose reprocess ran so. */
  stopRuns: Set<string>;
  stopReprocessOf: Set<string>;
  /**
   * Corrections that carry a mark, accepted or of unknown outcome (a call cut by a fault, a child
   * killed), in the order they were made: each must be used by a completed copy of its row, unless a
   * correction of the same row that may have come later was used instead.
   */
  corrections: MarkedCorrection[];
  nextMark: number;
  /** Every set of corrections tried: by correctItems, a reprocess with corrections, a file round trip. */
  sets: CorrectionSet[];
  /** Every reprocess the sequence asked for, with when it ran: a batch made in a refused set's time is another's. */
  reprocesses: ReprocessCall[];
  /** Every run of a batch the sequence started (here or in a child), with its error budget. */
  runs: RunCall[];
  /** Whether a worker ran: it may have run any batch, with no budget. */
  workerRan: boolean;
  /** Every pause or resume asked for, with when (see `ControlCall`). */
  controls: ControlCall[];
}

/** A run of a batch the sequence started: what it may have had in flight, and its budget. */
export interface RunCall {
  batchId: string;
  concurrency: number;
  commitEvery: number;
  budget: RunBudget | null;
}

/**
 * A pause or a resume: from its call until it returned (or its process exited), and whether it left the
 * batch paused (a pause that did) — Infinity and false while unknown.
 */
export interface ControlCall {
  batchId: string;
  action: 'pause' | 'resume';
  startedAt: number;
  endedAt: number;
  paused: boolean;
}

/** A correction whose data carries `mark`, so that the suite can tell which data a completed copy ran on. */
export interface MarkedCorrection {
  itemId: string;
  /** The source row: the root of the item's copy chain. */
  rootId: string;
  /** A batch whose reprocess would copy the row. */
  batchId: string;
  mark: string;
  startedAt: number;
  /** When the call returned; Infinity while it may still be stored (a child not heard from). */
  endedAt: number;
  outcome: 'accepted' | 'unknown';
}

/** How a call that was given a set of corrections ended, as far as the suite can tell. */
export type SetOutcome = 'running' | 'accepted' | 'refused' | 'unknown';

/** A set of corrections given to the module in one call. */
export interface CorrectionSet {
  /** `s<N>`: every entry's mark starts with `s<N>.`, so that whatever the set left behind is found. */
  label: string;
  via: 'correctItems' | 'reprocessBatch' | 'child reprocessBatch' | 'file round trip';
  /** The batch named in the call, and the first batch of its tree. */
  batchId: string;
  rootBatchId: string;
  mode: 'merge' | 'replace';
  /** The one entry that must make the module refuse the whole set, and where it is, or null. */
  poison: { what: string; at: 'entry' | 'line'; line: number } | null;
  /** The rows given, each with the mark of its new data, or null when given back unchanged. */
  rows: Array<{ sourceId: string; mark: string | null }>;
  startedAt: number;
  endedAt: number;
  outcome: SetOutcome;
  detail: string;
}

/** A reprocess the suite asked for (of `batchId`), from its call until it returned or its process exited. */
export interface ReprocessCall {
  batchId: string;
  /** The set it was given, if any. */
  set: string | null;
  startedAt: number;
  endedAt: number;
}

/** The system under test, and what the run saw. */
export interface Real {
  cluster: PrivateCluster;
  url: string;
  app: INestApplicationContext;
  batches: BatchService;
  children: ChaosChild[];
  itemTimeoutMs: number | undefined;
  /** How long the processor spends on a row, here and in the children. */
  itemPauseMs: number;
  trace: string[];
  violations: string[];
  /** Batch ids seen, kept for when the server is down. */
  knownBatches: string[];
  childScript: string;
}

/**
 * CHAOS_AVOID=hostile-texts,reprocess-all steers around bugs already found, to look past them on code
 * that still has them: hostile texts become plain, and every reprocess takes failed rows only. The
 * generated sequences (seeds and paths) stay the same.
 */
export const avoiding = (what: 'hostile-texts' | 'reprocess-all'): boolean =>
  (process.env.CHAOS_AVOID ?? '').split(',').includes(what);

export const failedOnly = (requested: boolean): boolean => requested || avoiding('reprocess-all');

export const note = (real: Real, line: string) =>
  real.trace.push(`${new Date().toISOString().slice(11, 23)} ${line}`);

export async function query<T>(real: Real, sql: string, params: unknown[] = []): Promise<T[]> {
  return withClient(
    real.url,
    async (client) => (await client.query(sql, params)).rows as T[],
    CLUSTER_CLIENT,
  );
}

export async function refreshBatches(real: Real): Promise<string[]> {
  try {
    const rows = await query<{ id: string }>(
      real,
      'SELECT id FROM import_batches ORDER BY created_at, id',
    );
    real.knownBatches = rows.map((row) => row.id);
  } catch {
    // the server is down: what was known last
  }
  return real.knownBatches;
}

export const short = (id: string) => id.slice(0, 8);

/**
 * An error as text, for an Error here or for one a child reported as JSON (a plain object with name, code
 * and message): both must read alike, or an outage a child saw is not recognised as one.
 */
export function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message.slice(0, 300)}`;
  if (error !== null && typeof error === 'object' && typeof (error as Error).message === 'string') {
    const { name, code, message } = error as { name?: unknown; code?: unknown; message: string };
    const label = typeof name === 'string' ? name : 'Error';
    const suffix = typeof code === 'string' || typeof code === 'number' ? ` (${code})` : '';
    return `${label}${suffix}: ${message.slice(0, 300)}`;
  }
  return String(error);
}

export function childConfig(
  real: Real,
  config: Omit<ChildConfig, 'url' | 'leaseMs' | 'itemTimeoutMs'>,
) {
  return { ...config, url: real.url, leaseMs: LEASE_MS, itemTimeoutMs: real.itemTimeoutMs };
}

export function spawnChild(real: Real, label: string, config: ChildConfig): ChaosChild {
  const child = startChild(real.childScript, label, config, real.itemPauseMs);
  real.children.push(child);
  note(real, `child #${child.id} started: ${label}`);
  void child.exit.then(({ code, signal, last }) =>
    note(
      real,
      `child #${child.id} exited ${signal ?? code}: ${JSON.stringify(last)?.slice(0, 400)}`,
    ),
  );
  return child;
}

export const live = (real: Real) => real.children.filter((child) => !child.exited);

// ---------------------------------------------------------------------------------------------------
// Commands

export type Command = fc.AsyncCommand<Model, Real>;

export function command(
  describe: string,
  run: (model: Model, real: Real) => Promise<void> | void,
  check: (model: Model) => boolean = () => true,
): Command {
  return {
    check,
    run: async (model, real) => {
      note(real, `> ${describe}`);
      await run(model, real);
    },
    toString: () => describe,
  };
}

/** An error of the suite's own faults (a terminated connection, a server down), not of the module. */
export function isOutage(error: unknown): boolean {
  const text = errorText(error);
  return /terminat|ECONNREFUSED|ECONNRESET|Connection|connect|shutting down|57P0|the database system|timeout/i.test(
    text,
  );
}

export async function chooseBatch(
  real: Real,
  index: number,
  preferEnded = false,
): Promise<string | undefined> {
  const all = await refreshBatches(real);
  if (preferEnded) {
    // A reprocess of a batch still running is only refused: prefer one that ended, when there is one.
    const ended = await inStatus(real, ENDED_BATCH_STATUSES);
    if (ended.length > 0) return ended[index % ended.length];
  }
  return all.length === 0 ? undefined : all[index % all.length];
}

/** A batch in one of `statuses` when there is one (an operator acts on those), else any batch. */
export async function chooseBatchIn(
  real: Real,
  index: number,
  statuses: readonly BatchStatus[],
): Promise<string | undefined> {
  const all = await refreshBatches(real);
  const some = await inStatus(real, statuses);
  if (some.length > 0) return some[index % some.length];
  return all.length === 0 ? undefined : all[index % all.length];
}

/** The batches in one of `statuses`, oldest first; none when the server is down. */
async function inStatus(real: Real, statuses: readonly BatchStatus[]): Promise<string[]> {
  const rows = await query<{ id: string }>(
    real,
    'SELECT id FROM import_batches WHERE status = ANY($1::text[]) ORDER BY created_at, id',
    [[...statuses]],
  ).catch(() => []);
  return rows.map((row) => row.id);
}

export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>(
    (resolve) => (timer = setTimeout(() => resolve('timeout'), ms)),
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every batch with the first batch of its tree and its status. */
export async function batchTrees(
  real: Real,
): Promise<Array<{ id: string; root: string; status: string; created_at: Date }>> {
  return query(
    real,
    `WITH RECURSIVE tree AS (
       SELECT id, id AS root, status, created_at FROM import_batches WHERE parent_batch_id IS NULL
       UNION ALL
       SELECT b.id, tree.root, b.status, b.created_at
       FROM import_batches b JOIN tree ON b.parent_batch_id = tree.id)
     SELECT * FROM tree ORDER BY created_at, id`,
  );
}
