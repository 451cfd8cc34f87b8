/**
 * The fault suite's invariants of recovery, checked once the system has settled: a refused set of
 * corrections left nothing behind, every copy of a row carries its predecessor's data as corrected (so a
 * correction is on the row's newest copy and the next reprocess uses it), an unread line is copied only
 * once corrected, and lineage, failures and the failures export count the same rows as the rows do.
 */
import { parse } from 'csv-parse/sync';
import type { Readable } from 'node:stream';
import { batchTrees, query, type Model, type Real, type ReprocessCall } from './suite-kit';

/** Slack between the suite's clock and PostgreSQL's (the same machine's, read at different moments). */
const CLOCK_SLACK_MS = 20;

export async function checkRecovery(model: Model, real: Real): Promise<void> {
  await checkRefusedSets(model, real);
  await checkAudits(model, real);
  await checkCopies(real);
  await checkLineage(real);
}

/**
 * A set that was refused, or that held a poisoned entry (it can never be accepted, whatever became of
 * the call), left no data, no audit entry and no child batch.
 */
async function checkRefusedSets(model: Model, real: Real): Promise<void> {
  const v = real.violations;
  const trees = await batchTrees(real);
  for (const set of model.sets) {
    if (set.outcome !== 'refused' && !set.poison) continue;
    const prefix = `${set.label}.%`;
    const [left] = await query<{ items: string[] | null; logs: number; applied: number }>(
      real,
      `SELECT (SELECT array_agg(id::text) FROM import_batch_items
                WHERE source_data->>'mark' LIKE $1 OR corrected_data->>'mark' LIKE $1) AS items,
              (SELECT count(*)::int FROM import_logs WHERE details::text LIKE '%"' || $1 || '"%') AS logs,
              (SELECT count(*)::int FROM chaos_applied WHERE mark LIKE $1) AS applied`,
      [prefix],
    );
    const why = `set ${set.label} (${set.via} on batch ${set.batchId}, ${set.outcome}${set.poison ? `, poisoned with ${set.poison.what}` : ''}: ${set.detail.slice(0, 200)})`;
    if (left.items) v.push(`${why} left its data on item(s) ${left.items.join(', ')}`);
    if (left.logs > 0) v.push(`${why} left ${left.logs} audit entr(ies)`);
    if (left.applied > 0) v.push(`${why} was applied ${left.applied} time(s)`);
    if (set.via === 'correctItems') continue;
    // A batch of the tree made while this call ran, that no other reprocess of the tree can have made.
    const others = model.reprocesses.filter((call) => call.set !== set.label);
    for (const batch of trees) {
      const at = new Date(batch.created_at).getTime();
      if (batch.root !== set.rootBatchId || batch.id === batch.root) continue;
      if (at < set.startedAt - CLOCK_SLACK_MS || at > set.endedAt + CLOCK_SLACK_MS) continue;
      if (
        !others.some((call) => during(call, at) && sameTree(trees, call.batchId, set.rootBatchId))
      ) {
        v.push(
          `${why}: batch ${batch.id} of its tree was made during the call, by no other reprocess`,
        );
      }
    }
  }
}

const during = (call: ReprocessCall, at: number) =>
  at >= call.startedAt - CLOCK_SLACK_MS && at <= call.endedAt + CLOCK_SLACK_MS;

const sameTree = (trees: Array<{ id: string; root: string }>, batchId: string, root: string) =>
  trees.find((batch) => batch.id === batchId)?.root === root;

/**
 * Every accepted marked correction was audited once, on a copy of its row; one of unknown outcome at
 * most once.
 */
async function checkAudits(model: Model, real: Real): Promise<void> {
  const audits = await query<{ mark: string; entries: number; sources: string[] }>(
    real,
    `SELECT l.details->'new'->>'mark' AS mark, count(*)::int AS entries,
            array_agg(DISTINCT COALESCE(i.original_item_id, i.id)::text) AS sources
     FROM import_logs l JOIN import_batch_items i ON i.id = l.item_id
     WHERE l.message LIKE 'Item % corrected' AND l.details->'new'->>'mark' IS NOT NULL
     GROUP BY 1`,
  );
  const byMark = new Map(audits.map((audit) => [audit.mark, audit]));
  for (const correction of model.corrections) {
    const audit = byMark.get(correction.mark);
    if (!audit) {
      if (correction.outcome === 'accepted')
        real.violations.push(`accepted correction ${correction.mark} has no audit entry`);
      continue;
    }
    if (audit.entries > 1 || audit.sources.some((source) => source !== correction.rootId)) {
      real.violations.push(
        `correction ${correction.mark} of row ${correction.rootId} has ${audit.entries} audit entries, on rows ${audit.sources.join(', ')}`,
      );
    }
  }
}

/**
 * Each copy of a row (in the module's order: by batch, then by item) starts from its predecessor's data
 * as corrected, so a correction stored anywhere but on the newest copy would show; and a line that could
 * not be read is copied only once corrected.
 */
async function checkCopies(real: Real): Promise<void> {
  const broken = await query<{
    source_id: string;
    copy_id: string;
    copy_batch: string;
    previous_id: string;
    unread: boolean;
    copied: unknown;
    expected: unknown;
  }>(
    real,
    `WITH copies AS (
       SELECT COALESCE(i.original_item_id, i.id) AS source_id, i.id, i.batch_id, i.source_data,
              i.corrected_data, i.original_item_id, i.error_details,
              row_number() OVER (PARTITION BY COALESCE(i.original_item_id, i.id)
                                 ORDER BY b.created_at, i.created_at) AS k
       FROM import_batch_items i JOIN import_batches b ON b.id = i.batch_id)
     SELECT y.source_id, y.id AS copy_id, y.batch_id AS copy_batch, x.id AS previous_id,
            (x.original_item_id IS NULL AND x.corrected_data IS NULL
             AND x.error_details->>'code' = 'MALFORMED_LINE') AS unread,
            y.source_data AS copied, COALESCE(x.corrected_data, x.source_data) AS expected
     FROM copies y JOIN copies x ON x.source_id = y.source_id AND x.k = y.k - 1
     WHERE y.source_data <> COALESCE(x.corrected_data, x.source_data)
        OR (x.original_item_id IS NULL AND x.corrected_data IS NULL
            AND x.error_details->>'code' = 'MALFORMED_LINE')`,
  );
  for (const row of broken) {
    real.violations.push(
      row.unread
        ? `row ${row.source_id}: a line that could not be read was copied into batch ${row.copy_batch} (item ${row.copy_id}) uncorrected`
        : `row ${row.source_id}: copy ${row.copy_id} (batch ${row.copy_batch}) holds ${JSON.stringify(row.copied)}, but the copy before it (${row.previous_id}) says ${JSON.stringify(row.expected)}`,
    );
  }
}

/** Where each row of a tree stands, counted by the rows (the suite's reading of the contract). */
interface RowState {
  first_status: string;
  done: boolean;
  newest_id: string;
  newest_status: string;
}

async function checkLineage(real: Real): Promise<void> {
  const v = real.violations;
  const roots = await query<{ id: string }>(
    real,
    'SELECT id FROM import_batches WHERE parent_batch_id IS NULL ORDER BY created_at, id',
  );
  for (const { id: root } of roots) {
    const rows = await query<RowState>(
      real,
      `WITH copies AS (
         SELECT s.id AS source_id, c.id, c.status, b.created_at AS batch_created_at, c.created_at
         FROM import_batch_items s
         JOIN import_batch_items c ON c.id = s.id OR c.original_item_id = s.id
         JOIN import_batches b ON b.id = c.batch_id
         WHERE s.batch_id = $1)
       SELECT s.status AS first_status,
              EXISTS (SELECT 1 FROM copies c WHERE c.source_id = s.id AND c.status = 'completed') AS done,
              n.id::text AS newest_id, n.status AS newest_status
       FROM import_batch_items s
       CROSS JOIN LATERAL (SELECT * FROM copies c WHERE c.source_id = s.id
                           ORDER BY c.batch_created_at DESC, c.created_at DESC LIMIT 1) n
       WHERE s.batch_id = $1`,
      [root],
    );
    const unresolved = rows.filter(
      (row) => !row.done && ['failed', 'skipped', 'cancelled'].includes(row.newest_status),
    );
    const expected = {
      totalRows: rows.length,
      completedFirstTime: rows.filter((row) => row.first_status === 'completed').length,
      resolved: rows.filter((row) => row.first_status !== 'completed' && row.done).length,
      unresolved: unresolved.length,
    };
    const lineage = await real.batches.getLineage(root);
    const sum =
      lineage.completedFirstTime + lineage.resolved + lineage.unresolved + lineage.notProcessed;
    if (sum !== lineage.totalRows || lineage.notProcessed < 0) {
      v.push(
        `getLineage(${root}): ${lineage.completedFirstTime} + ${lineage.resolved} + ${lineage.unresolved} + ${lineage.notProcessed} rows, of ${lineage.totalRows}`,
      );
    }
    const said = (Object.keys(expected) as Array<keyof typeof expected>).map((k) => lineage[k]);
    if (said.join() !== Object.values(expected).join()) {
      v.push(
        `getLineage(${root}) says total/first time/resolved/unresolved ${said.join('/')}, the rows say ${Object.values(expected).join('/')}`,
      );
    }
    const want = unresolved.map((row) => row.newest_id).sort();
    const failures = (await real.batches.getFailures(root, { limit: 100_000 }))
      .map((row) => row.itemId)
      .sort();
    if (failures.join() !== want.join()) {
      v.push(
        `getFailures(${root}) lists ${failures.length} row(s) [${failures.join(', ')}], the rows say ${want.length} unresolved [${want.join(', ')}]`,
      );
    }
    const exported = await exportedIds(await real.batches.exportFailures(root, { format: 'csv' }));
    if (exported.join() !== want.join()) {
      v.push(
        `exportFailures(${root}) has ${exported.length} row(s) [${exported.join(', ')}], the rows say ${want.length} unresolved [${want.join(', ')}]`,
      );
    }
  }
}

/** The item ids of a CSV failures export, sorted. */
async function exportedIds(stream: Readable): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer | string));
  const parsed: string[][] = parse(Buffer.concat(chunks).toString('utf8'));
  const [header, ...records] = parsed;
  const at = header.findIndex((cell) => /^_+item_id$/.test(cell));
  return records.map((record) => record[at]).sort();
}
