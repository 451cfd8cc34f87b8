/**
 * The fault suite's commands of recovery at file scale: sets of corrections given to `correctItems`, to
 * `reprocessBatch(id, { corrections })` here and in a child process, and a failures export edited as a
 * user would and given back through `readCorrections`. A set sometimes holds one poisoned entry (an
 * unknown id or line, a completed row, a row named twice), and must then be refused whole.
 */
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { readCorrections, type CorrectionMode, type ItemCorrection } from '../../lib';
import { LIVE_BATCH_STATUSES } from '../../lib/statuses';
import type { ChildConfig } from './chaos-child';
import {
  batchTrees,
  childConfig,
  command,
  errorText,
  isOutage,
  note,
  query,
  SETTLE_CALL_TIMEOUT_MS,
  short,
  spawnChild,
  withTimeout,
  type CorrectionSet,
  type Model,
  type Real,
  type ReprocessCall,
} from './suite-kit';

/** A batch in one of these may still run: it holds its open rows, and a reprocess of its tree waits. */
const LIVE: readonly string[] = LIVE_BATCH_STATUSES;

/** A source row of a tree as it stands: what a correction of it may name and must change. */
interface TreeRow {
  source_id: string;
  /** The row's index in the first batch: the suite's rows are made with `n` = their index. */
  n: number;
  line: number | null;
  /** Every copy of the row: a correction may name any of them. */
  ids: string[];
  newest_id: string;
  /** The data a reprocess would use now. */
  data: Record<string, unknown>;
  completed: boolean;
  /** A running batch holds a copy: a correction of it is refused. */
  held: boolean;
}

async function treeRows(real: Real, rootId: string): Promise<TreeRow[]> {
  return query<TreeRow>(
    real,
    `WITH copies AS (
       SELECT s.id AS source_id, c.id, c.status, c.source_data, c.corrected_data,
              b.status AS batch_status, b.created_at AS batch_created_at, c.created_at
       FROM import_batch_items s
       JOIN import_batch_items c ON c.id = s.id OR c.original_item_id = s.id
       JOIN import_batches b ON b.id = c.batch_id
       WHERE s.batch_id = $1)
     SELECT s.id AS source_id, s.item_index AS n, s.source_line AS line,
            (SELECT array_agg(c.id::text ORDER BY c.batch_created_at, c.created_at)
             FROM copies c WHERE c.source_id = s.id) AS ids,
            newest.id AS newest_id, COALESCE(newest.corrected_data, newest.source_data) AS data,
            EXISTS (SELECT 1 FROM copies c WHERE c.source_id = s.id AND c.status = 'completed') AS completed,
            EXISTS (SELECT 1 FROM copies c WHERE c.source_id = s.id
                      AND ((c.status = 'processing'
                            AND c.batch_status IN ('pending', 'processing', 'paused', 'awaiting_approval'))
                           OR (c.status = 'pending' AND c.batch_status IN ('pending', 'processing')))) AS held
     FROM import_batch_items s
     CROSS JOIN LATERAL (
       SELECT * FROM copies c WHERE c.source_id = s.id
       ORDER BY c.batch_created_at DESC, c.created_at DESC LIMIT 1) newest
     WHERE s.batch_id = $1
     ORDER BY s.item_index`,
    [rootId],
  );
}

/** A tree of the sequence: one with no running batch when there is one (a running batch holds rows). */
async function chooseTree(
  model: Model,
  real: Real,
  index: number,
): Promise<{ root: string; batches: string[] } | undefined> {
  const trees = await batchTrees(real).catch(() => undefined);
  if (!trees) return undefined;
  const roots = model.created.filter((root) => trees.some((batch) => batch.id === root));
  if (roots.length === 0) return undefined;
  const quiet = roots.filter((root) =>
    trees.every((batch) => batch.root !== root || !LIVE.includes(batch.status)),
  );
  const root = (quiet.length > 0 ? quiet : roots)[
    index % (quiet.length > 0 ? quiet : roots).length
  ];
  const ended = trees
    .filter((batch) => batch.root === root && !LIVE.includes(batch.status))
    .map((batch) => batch.id);
  return { root, batches: ended.length > 0 ? ended : [root] };
}

/** The data that fixes a row (the processor then completes it), carrying `mark`. */
function fixedData(row: TreeRow, mark: string, mode: CorrectionMode): Record<string, unknown> {
  if (mode === 'replace') return { n: row.n, fail: null, text: 'plain', mark };
  // A line that could not be read may lack the fields the processor needs.
  return {
    ...('n' in row.data ? {} : { n: row.n }),
    ...('text' in row.data ? {} : { text: 'plain' }),
    fail: null,
    mark,
  };
}

/** A uuid no item has: deterministic, so that a replayed sequence sends the same set. */
const unknownId = (label: string) =>
  `0000c0de-0000-4000-8000-${label.replace(/\D/g, '').padStart(12, '0')}`;

const POISONS = ['unknown id', 'completed row', 'unknown line', 'row twice', 'other tree'] as const;
type PoisonKind = (typeof POISONS)[number];

const setArguments = {
  pick: fc.nat({ max: 1000 }),
  entries: fc.array(
    fc.record({
      pick: fc.nat({ max: 1000 }),
      byLine: fc.boolean(),
      copy: fc.nat({ max: 10 }),
      unchanged: fc.oneof(
        { arbitrary: fc.constant(false), weight: 3 },
        { arbitrary: fc.constant(true), weight: 1 },
      ),
    }),
    { minLength: 1, maxLength: 8 },
  ),
  mode: fc.constantFrom<CorrectionMode>('merge', 'replace'),
  poison: fc.oneof(
    { arbitrary: fc.constant(null), weight: 3 },
    {
      arbitrary: fc.record({ kind: fc.constantFrom(...POISONS), at: fc.nat({ max: 20 }) }),
      weight: 1,
    },
  ),
};

type SetArguments = {
  [K in keyof typeof setArguments]: (typeof setArguments)[K] extends fc.Arbitrary<infer T>
    ? T
    : never;
};

const describeSet = (args: SetArguments) =>
  `${args.entries.length} row(s) ${args.mode} [${args.entries
    .map((e) => `${e.pick}${e.byLine ? 'L' : ''}${e.unchanged ? '=' : ''}`)
    .join(' ')}]${args.poison ? ` poisoned with ${args.poison.kind} at ${args.poison.at}` : ''}`;

function newSet(
  model: Model,
  via: CorrectionSet['via'],
  tree: { root: string },
  batchId: string,
  mode: CorrectionMode,
): CorrectionSet {
  const set: CorrectionSet = {
    label: `s${model.nextMark++}`,
    via,
    batchId,
    rootBatchId: tree.root,
    mode,
    poison: null,
    rows: [],
    startedAt: Date.now(),
    endedAt: Infinity,
    outcome: 'running',
    detail: '',
  };
  model.sets.push(set);
  return set;
}

/** The corrections of a set of random rows of a tree, some given back unchanged, maybe one poisoned. */
async function buildSet(
  model: Model,
  real: Real,
  args: SetArguments,
  via: CorrectionSet['via'],
  batchPick = 0,
): Promise<{ set: CorrectionSet; corrections: ItemCorrection[] } | undefined> {
  const tree = await chooseTree(model, real, args.pick);
  if (!tree) return undefined;
  let rows: TreeRow[];
  try {
    rows = await treeRows(real, tree.root);
  } catch (error) {
    note(real, `  no rows: ${errorText(error)}`);
    return undefined;
  }
  const set = newSet(model, via, tree, tree.batches[batchPick % tree.batches.length], args.mode);
  const candidates = rows.filter((row) => !row.completed && !row.held);
  const corrections: ItemCorrection[] = [];
  const named = new Set<string>();
  for (const [k, choice] of args.entries.entries()) {
    if (candidates.length === 0) break;
    const row = candidates[choice.pick % candidates.length];
    if (named.has(row.source_id)) continue;
    named.add(row.source_id);
    const reference =
      choice.byLine && row.line !== null
        ? { line: row.line }
        : { itemId: row.ids[choice.copy % row.ids.length] };
    const mark = choice.unchanged ? null : `${set.label}.${k}`;
    corrections.push({
      ...reference,
      data: mark === null ? row.data : fixedData(row, mark, args.mode),
    });
    set.rows.push({ sourceId: row.source_id, mark });
  }
  if (args.poison) {
    const entry = await poisonedEntry(real, args.poison.kind, set, rows, corrections);
    // A second correction of a row is the one named: it comes after the first (entry 1).
    const position = entry.twice
      ? 1 + (args.poison.at % corrections.length)
      : args.poison.at % (corrections.length + 1);
    corrections.splice(position, 0, entry.correction);
    set.poison = { what: entry.what, at: 'entry', line: position + 1 };
  }
  return { set, corrections };
}

/** One entry the module must refuse, whatever runs meanwhile: each of these stays wrong. */
async function poisonedEntry(
  real: Real,
  kind: PoisonKind,
  set: CorrectionSet,
  rows: TreeRow[],
  corrections: ItemCorrection[],
): Promise<{ what: string; correction: ItemCorrection; twice?: boolean }> {
  const data = { n: 0, fail: null, text: 'plain', mark: `${set.label}.poison` };
  const completed = rows.find((row) => row.completed);
  const withLine = rows.find((row) => row.line !== null);
  const first = corrections[0];
  if (kind === 'completed row' && completed) {
    return {
      what: `completed row ${short(completed.source_id)}`,
      correction: { itemId: completed.ids[0], data },
    };
  }
  if (kind === 'unknown line' && withLine) {
    return { what: 'line 99999', correction: { line: 99_999, data } };
  }
  if (kind === 'row twice' && first) {
    const again = rows.find(
      (row) => row.line === first.line || row.ids.includes(first.itemId ?? ''),
    );
    if (again) {
      return {
        what: `row ${short(again.source_id)} a second time`,
        correction: { itemId: again.newest_id, data },
        twice: true,
      };
    }
  }
  if (kind === 'other tree') {
    const [other] = await query<{ id: string }>(
      real,
      `SELECT id FROM import_batch_items WHERE COALESCE(original_item_id, id) NOT IN
         (SELECT id FROM import_batch_items WHERE batch_id = $1) LIMIT 1`,
      [set.rootBatchId],
    ).catch(() => []);
    if (other)
      return {
        what: `item ${short(other.id)} of another tree`,
        correction: { itemId: other.id, data },
      };
  }
  return { what: 'an unknown id', correction: { itemId: unknownId(set.label), data } };
}

const codeOf = (error: unknown): unknown => (error as { code?: unknown } | null)?.code;

/** Records how a set's call ended; a poisoned set that was accepted, or refused without naming its poison, is a violation. */
function finish(
  model: Model,
  real: Real,
  set: CorrectionSet,
  outcome: 'accepted' | 'refused' | 'unknown',
  detail: string,
  problems?: unknown,
): void {
  set.outcome = outcome;
  set.endedAt = Date.now();
  set.detail = detail;
  note(real, `  set ${set.label} (${set.via}) ${outcome}: ${detail.slice(0, 300)}`);
  if (set.poison && outcome === 'accepted') {
    real.violations.push(
      `set ${set.label} (${set.via} on batch ${set.batchId}) was accepted though its entry ${set.poison.line} names ${set.poison.what}`,
    );
  }
  if (set.poison && outcome === 'refused' && Array.isArray(problems)) {
    const poison = set.poison;
    const listed = (problems as Array<{ at?: unknown; line?: unknown }>).some(
      (problem) => problem.at === poison.at && problem.line === poison.line,
    );
    if (!listed) {
      real.violations.push(
        `set ${set.label} (${set.via}) was refused without naming its ${poison.at} ${poison.line} (${poison.what}): ${detail.slice(0, 300)}`,
      );
    }
  }
  if (set.poison || outcome === 'refused') return;
  for (const row of set.rows) {
    if (row.mark === null) continue;
    model.corrections.push({
      itemId: row.sourceId,
      rootId: row.sourceId,
      batchId: set.rootBatchId,
      mark: row.mark,
      startedAt: set.startedAt,
      endedAt: outcome === 'accepted' ? set.endedAt : Infinity,
      outcome,
    });
  }
}

/** How a reprocess given a set ended: refused before its child batch was made, or made it. */
function reprocessOutcome(error: unknown): 'refused' | 'unknown' {
  const code = codeOf(error);
  return code === 'CORRECTIONS_REFUSED' || code === 'BATCH_NOT_REPROCESSABLE'
    ? 'refused'
    : 'unknown';
}

function startReprocess(model: Model, batchId: string, set: CorrectionSet): ReprocessCall {
  const call: ReprocessCall = {
    batchId,
    set: set.label,
    startedAt: set.startedAt,
    endedAt: Infinity,
  };
  model.reprocesses.push(call);
  return call;
}

export const correctItemsCommand = fc.record(setArguments).map((args) =>
  command(
    `correctItems on tree#${args.pick}: ${describeSet(args)}`,
    async (model, real) => {
      const built = await buildSet(model, real, args, 'correctItems');
      if (!built) return;
      const { set, corrections } = built;
      const outcome = await withTimeout(
        real.batches.correctItems(set.batchId, corrections, { mode: args.mode }).then(
          (result) => ({ result }),
          (error: unknown) => ({ error }),
        ),
        SETTLE_CALL_TIMEOUT_MS,
      );
      if (outcome === 'timeout') {
        real.violations.push(`correctItems of set ${set.label} never returned`);
        return finish(model, real, set, 'unknown', 'no answer');
      }
      if ('error' in outcome) {
        const refused = codeOf(outcome.error) === 'CORRECTIONS_REFUSED';
        if (!refused && !isOutage(outcome.error)) {
          real.violations.push(
            `correctItems of set ${set.label} threw ${errorText(outcome.error)}`,
          );
        }
        return finish(
          model,
          real,
          set,
          refused ? 'refused' : 'unknown',
          errorText(outcome.error),
          (outcome.error as { problems?: unknown }).problems,
        );
      }
      const { result } = outcome;
      const marked = set.rows.filter((row) => row.mark !== null).length;
      if (
        result.corrected + result.unchanged !== corrections.length ||
        result.corrected < marked ||
        result.rootBatchId !== set.rootBatchId
      ) {
        real.violations.push(
          `correctItems of set ${set.label} (${corrections.length} entries, ${marked} with new data, tree ${set.rootBatchId}) ` +
            `said corrected ${result.corrected}, unchanged ${result.unchanged}, tree ${result.rootBatchId}`,
        );
      }
      finish(
        model,
        real,
        set,
        'accepted',
        `corrected ${result.corrected}, unchanged ${result.unchanged}`,
      );
    },
    (model) => model.created.length > 0,
  ),
);

/** Runs `reprocessBatch` with corrections here, and records how it ended. */
async function reprocessHere(
  model: Model,
  real: Real,
  set: CorrectionSet,
  corrections: AsyncIterable<ItemCorrection> | ItemCorrection[],
  options: { concurrency?: number; commitEvery?: number } = {},
): Promise<void> {
  const call = startReprocess(model, set.batchId, set);
  const outcome = await withTimeout(
    real.batches
      .reprocessBatch(set.batchId, { ...options, corrections, correctionMode: set.mode })
      .then(
        (summary) => ({ summary }),
        (error: unknown) => ({ error }),
      ),
    SETTLE_CALL_TIMEOUT_MS,
  );
  call.endedAt = Date.now();
  if (outcome === 'timeout') {
    real.violations.push(`reprocessBatch(${set.batchId}) with set ${set.label} never settled`);
    return finish(model, real, set, 'unknown', 'no answer');
  }
  if ('error' in outcome) {
    return finish(
      model,
      real,
      set,
      reprocessOutcome(outcome.error),
      errorText(outcome.error),
      (outcome.error as { problems?: unknown }).problems,
    );
  }
  const child = await real.batches.getBatch(outcome.summary.batchId).catch(() => undefined);
  if (child && child.parentBatchId !== set.batchId) {
    real.violations.push(
      `reprocessBatch(${set.batchId}) with set ${set.label} returned batch ${child.id}, whose parent is ${child.parentBatchId}`,
    );
  }
  finish(
    model,
    real,
    set,
    'accepted',
    `child ${short(outcome.summary.batchId)} ended ${outcome.summary.status}`,
  );
}

const reprocessArguments = {
  ...setArguments,
  batchPick: fc.nat({ max: 1000 }),
  concurrency: fc.integer({ min: 1, max: 4 }),
  commitEvery: fc.constantFrom(1, 1, 3, 10),
};

export const reprocessWithCorrectionsCommand = fc.record(reprocessArguments).map((args) =>
  command(
    `reprocessBatch here of tree#${args.pick} batch#${args.batchPick} with corrections: ${describeSet(args)}`,
    async (model, real) => {
      const built = await buildSet(model, real, args, 'reprocessBatch', args.batchPick);
      if (!built) return;
      await reprocessHere(model, real, built.set, built.corrections, {
        concurrency: args.concurrency,
        commitEvery: args.commitEvery,
      });
    },
    (model) => model.created.length > 0,
  ),
);

export const childReprocessWithCorrectionsCommand = fc.record(reprocessArguments).map((args) =>
  command(
    `reprocess in a child of tree#${args.pick} batch#${args.batchPick} with corrections: ${describeSet(args)}`,
    async (model, real) => {
      const built = await buildSet(model, real, args, 'child reprocessBatch', args.batchPick);
      if (!built) return;
      const { set, corrections } = built;
      const call = startReprocess(model, set.batchId, set);
      const config: ChildConfig = childConfig(real, {
        mode: 'reprocess',
        batchId: set.batchId,
        concurrency: args.concurrency,
        commitEvery: args.commitEvery,
        continueOnError: true,
        failedItemsOnly: true,
        corrections,
        correctionMode: set.mode,
      });
      const child = spawnChild(
        real,
        `reprocess ${short(set.batchId)} with set ${set.label}`,
        config,
      );
      void child.exit.then(({ last }) => {
        call.endedAt = Date.now();
        const said = (last ?? {}) as {
          done?: boolean;
          error?: { code?: unknown; problems?: unknown };
        };
        if (said.done === true) finish(model, real, set, 'accepted', JSON.stringify(last));
        else if (said.error) {
          finish(
            model,
            real,
            set,
            reprocessOutcome(said.error),
            JSON.stringify(said.error),
            said.error.problems,
          );
        } else finish(model, real, set, 'unknown', `no answer (${JSON.stringify(last)})`);
      });
    },
    (model) => model.created.length > 0,
  ),
);

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer | string));
  return Buffer.concat(chunks).toString('utf8');
}

export const fileRoundTripCommand = fc
  .record({
    pick: fc.nat({ max: 1000 }),
    edits: fc.array(fc.nat({ max: 1000 }), { maxLength: 6 }),
    onlyEdited: fc.boolean(),
    mode: fc.constantFrom<CorrectionMode>('merge', 'replace'),
    poison: fc.oneof(
      { arbitrary: fc.constant(null), weight: 3 },
      {
        arbitrary: fc.record({
          kind: fc.constantFrom('unknown id', 'line not a number', 'row twice'),
          at: fc.nat({ max: 20 }),
        }),
        weight: 1,
      },
    ),
  })
  .map((args) =>
    command(
      `failures file of tree#${args.pick} edited [${args.edits.join(' ')}]${args.onlyEdited ? ' (only the edited rows)' : ''}, given back to reprocessBatch ${args.mode}${args.poison ? ` poisoned with ${args.poison.kind} at ${args.poison.at}` : ''}`,
      async (model, real) => {
        const tree = await chooseTree(model, real, args.pick);
        if (!tree) return;
        let exported: string;
        let rows: TreeRow[];
        try {
          exported = await text(await real.batches.exportFailures(tree.root, { format: 'csv' }));
          rows = await treeRows(real, tree.root);
        } catch (error) {
          note(real, `  no export: ${errorText(error)}`);
          return;
        }
        const set = newSet(model, 'file round trip', tree, tree.root, args.mode);
        const file = editFailuresFile(exported, rows, set, args);
        note(real, `  ${file.records} row(s) given back, ${file.edited} edited`);
        await reprocessHere(
          model,
          real,
          set,
          readCorrections(Readable.from([file.text]), { format: 'csv' }),
        );
      },
      (model) => model.created.length > 0,
    ),
  );

/**
 * Edits an exported failures file as a user would in a spreadsheet: fixes the cells of some rows (the
 * failure mode emptied, a mark added in a `mark` column, the missing cells of an unread line filled),
 * gives the others back as they are or leaves them out, and maybe adds one poisoned row.
 */
function editFailuresFile(
  exported: string,
  rows: TreeRow[],
  set: CorrectionSet,
  args: {
    edits: number[];
    onlyEdited: boolean;
    poison: { kind: string; at: number } | null;
  },
): { text: string; records: number; edited: number } {
  const parsed: string[][] = parse(exported);
  const [header, ...records] = parsed;
  const prefix = header.find((cell) => /^_+item_id$/.test(cell))!.replace(/item_id$/, '');
  const column = (name: string): number => {
    if (!header.includes(name)) {
      header.push(name);
      for (const record of records) record.push('');
    }
    return header.indexOf(name);
  };
  const [idAt, lineAt, nAt, failAt, textAt, markAt] = [
    `${prefix}item_id`,
    `${prefix}line`,
    'n',
    'fail',
    'text',
    'mark',
  ].map(column);
  const byId = new Map(rows.flatMap((row) => row.ids.map((id) => [id, row] as const)));
  const edited = new Set<number>();
  for (const [k, pick] of args.edits.entries()) {
    if (records.length === 0) break;
    const at = pick % records.length;
    const row = byId.get(records[at][idAt]);
    if (edited.has(at) || !row) continue;
    edited.add(at);
    const record = records[at];
    record[failAt] = '';
    record[markAt] = `${set.label}.${k}`;
    if (record[nAt] === '') record[nAt] = String(row.n);
    if (record[textAt] === '') record[textAt] = 'plain';
    set.rows.push({ sourceId: row.source_id, mark: record[markAt] });
  }
  const kept = records.filter((_, at) => edited.has(at) || !args.onlyEdited);
  for (const [at, record] of records.entries()) {
    const row = byId.get(record[idAt]);
    if (row && !edited.has(at) && !args.onlyEdited)
      set.rows.push({ sourceId: row.source_id, mark: null });
  }
  if (args.poison) {
    const poisoned = header.map(() => '');
    poisoned[nAt] = '0';
    poisoned[textAt] = 'plain';
    poisoned[markAt] = `${set.label}.poison`;
    let what = 'an unknown id';
    let earliest = 0;
    poisoned[idAt] = unknownId(set.label);
    if (args.poison.kind === 'line not a number') {
      poisoned[idAt] = '';
      poisoned[lineAt] = 'twelve';
      what = 'a line that is not a number';
    } else if (args.poison.kind === 'row twice' && kept.length > 0) {
      poisoned[idAt] = kept[0][idAt];
      what = `item ${short(kept[0][idAt])} a second time`;
      earliest = 1;
    }
    const position = earliest + (args.poison.at % (kept.length + 1 - earliest));
    kept.splice(position, 0, poisoned);
    set.poison = { what, at: 'line', line: 0 };
  }
  // Each record's line in the file: a quoted cell may span lines.
  let line = 1;
  let written = stringify([header]);
  for (const record of kept) {
    line += 1;
    if (record[markAt] === `${set.label}.poison` && set.poison) set.poison.line = line;
    const serialized = stringify([record]);
    written += serialized;
    line += (serialized.match(/\n/g)?.length ?? 1) - 1;
  }
  return { text: written, records: kept.length, edited: edited.size };
}
