import { Inject, Injectable } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import {
  CorrectionsRefusedError,
  type CorrectionProblem,
} from '../errors/corrections-refused.error';
import type { ImportItemsSource } from '../interfaces/batch-options.interface';
import type { CorrectionMode, ItemCorrection } from '../interfaces/recovery.interface';
import { CREATE_CHUNK_BYTES } from '../reliable-imports.constants';
import { messages } from '../reliable-imports.messages';
import {
  isJsonProblem,
  jsonByteLength,
  serializeJsonValue,
  serializeSourceData,
} from '../utils/source-data.util';
import { isSourceLine } from '../utils/source-line.util';
import { isUuid } from '../utils/uuid.util';
import { cellText, exactJson, parseExactly } from '../readers/spreadsheet-cells';
import { DatabaseAdapter } from './database-adapter';
import {
  lockCopiesOfRows,
  rowStates,
  sourcesOfItems,
  sourcesOfLines,
  storeCorrections,
} from './statements/recovery.statements';
import type { Row } from './row-mappers';

/** Corrections resolved and stored per round trip. */
const CORRECTIONS_PER_CHUNK = 500;

/** Problems kept for the error; the count goes on. */
const MAX_PROBLEMS = 10_000;

/** A correction that passed the checks that need no database, waiting for its row. */
interface Pending {
  position: number;
  at: CorrectionProblem['at'];
  line: number;
  itemId?: string;
  sourceLine?: number;
  data: Record<string, unknown>;
  json: string;
}

/**
 * Applies a set of corrections to the rows of one tree inside the caller's transaction, all or nothing:
 * every correction is checked (its reference, its row's state, its data), every problem is collected with
 * its line, and when there is any, the set is refused as a whole and the caller's transaction rolls back.
 * The caller holds the tree's root, so no reprocess or other correction of the tree runs meanwhile.
 */
@Injectable()
export class CorrectionWriter {
  constructor(@Inject(DatabaseAdapter) private readonly database: DatabaseAdapter) {}

  /**
   * @returns how many rows were corrected (each on its newest copy), how many came back unchanged, and the
   *   source rows corrected.
   */
  async apply(
    transaction: QueryRunner,
    rootId: string,
    corrections: ImportItemsSource<ItemCorrection<object>>,
    mode: CorrectionMode,
  ): Promise<{ corrected: number; unchanged: number; rows: string[] }> {
    const run = new CorrectionRun(rootId);
    let chunk: Pending[] = [];
    let bytes = 0;
    let corrected = 0;
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      const ready = await this.resolve(transaction, run, chunk, mode);
      chunk = [];
      bytes = 0;
      // Once the set is refused, the rest is only checked, so that every problem is reported at once.
      if (run.problemCount === 0 && ready.length > 0) {
        const stored = await this.database.run<Row>(
          storeCorrections({ corrections: `[${ready.join(',')}]`, mode }),
          transaction,
        );
        corrected += stored.length;
      }
    };
    let position = 0;
    for await (const correction of corrections) {
      position++;
      const pending = run.check(correction, position);
      if (!pending) continue;
      if (bytes + jsonByteLength(pending.json) > CREATE_CHUNK_BYTES) await flush();
      chunk.push(pending);
      bytes += jsonByteLength(pending.json);
      if (chunk.length === CORRECTIONS_PER_CHUNK) await flush();
    }
    await flush();
    if (run.problemCount > 0) {
      // Problems found in the database come after the chunk's own: put them back in the set's order.
      const ordered = [...run.problems].sort((a, b) => a.line - b.line);
      throw new CorrectionsRefusedError(rootId, ordered, run.problemCount);
    }
    return { corrected, unchanged: run.unchanged, rows: run.correctedRows };
  }

  /** Finds each correction's row and checks that a reprocess would use it; returns what to store. */
  private async resolve(
    transaction: QueryRunner,
    run: CorrectionRun,
    chunk: Pending[],
    mode: CorrectionMode,
  ): Promise<string[]> {
    const itemIds = chunk.flatMap((pending) => (pending.itemId ? [pending.itemId] : []));
    const lines = chunk.flatMap((pending) =>
      pending.sourceLine !== undefined ? [pending.sourceLine] : [],
    );
    const byItem = new Map<string, Row>();
    if (itemIds.length > 0) {
      for (const row of await this.database.run<Row>(sourcesOfItems({ itemIds }), transaction)) {
        byItem.set(String(row.item_id), row);
      }
    }
    const byLine = new Map<number, string[]>();
    if (lines.length > 0) {
      for (const row of await this.database.run<Row>(
        sourcesOfLines({ rootId: run.rootId, lines }),
        transaction,
      )) {
        const line = Number(row.source_line);
        byLine.set(line, [...(byLine.get(line) ?? []), String(row.source_id)]);
      }
    }
    const found: Array<{ pending: Pending; sourceId: string }> = [];
    for (const pending of chunk) {
      const sourceId = this.sourceOf(run, pending, byItem, byLine);
      if (sourceId !== null && run.once(sourceId, pending)) found.push({ pending, sourceId });
    }
    if (found.length === 0) return [];
    const states = new Map<string, Row>();
    const sourceIds = [...new Set(found.map((entry) => entry.sourceId))];
    // Locked first: the tree's root lock keeps no claim of a reprocess batch out (resumed meanwhile).
    await this.database.run(lockCopiesOfRows({ sourceIds }), transaction);
    for (const row of await this.database.run<Row>(rowStates({ sourceIds }), transaction)) {
      states.set(String(row.source_id), row);
    }
    const ready: string[] = [];
    for (const { pending, sourceId } of found) {
      const state = states.get(sourceId);
      if (!state) {
        run.problem(
          pending,
          messages.correctionUnknownItem(pending.itemId ?? sourceId, run.rootId),
        );
      } else if (state.newest_scrubbed_at) {
        run.problem(
          pending,
          messages.correctionScrubbed({
            batchId: String(state.newest_batch_id),
            scrubbedAt: new Date(state.newest_scrubbed_at as string | Date),
          }),
        );
      } else if (state.completed_id) {
        run.problem(pending, messages.correctionApplied(String(state.completed_batch_id)));
      } else if (state.live_id) {
        run.problem(
          pending,
          messages.correctionHeld(String(state.live_batch_id), String(state.live_batch_status)),
        );
      } else {
        const { json, changed } = keepUnchanged(pending.data, String(state.data), mode);
        // A row given back as it stands is no correction (a file fixes some rows and returns them all).
        // That holds for a line that could not be read too: what could be read of it is not the row
        // that was meant, and taking it back untouched would import it cut short.
        if (!changed) {
          run.unchanged++;
          continue;
        }
        const line = pending.at === 'line' ? pending.line : null;
        ready.push(`{"id":"${String(state.newest_id)}","line":${line},"data":${json}}`);
        run.correctedRows.push(sourceId);
      }
    }
    return ready;
  }

  private sourceOf(
    run: CorrectionRun,
    pending: Pending,
    byItem: Map<string, Row>,
    byLine: Map<number, string[]>,
  ): string | null {
    if (pending.itemId !== undefined) {
      const row = byItem.get(pending.itemId);
      if (!row || String(row.source_batch_id) !== run.rootId) {
        run.problem(pending, messages.correctionUnknownItem(pending.itemId, run.rootId));
        return null;
      }
      return String(row.source_id);
    }
    const line = pending.sourceLine as number;
    const sources = byLine.get(line) ?? [];
    if (sources.length !== 1) {
      run.problem(
        pending,
        sources.length === 0
          ? messages.correctionUnknownLine(line, run.rootId)
          : messages.correctionAmbiguousLine(line),
      );
      return null;
    }
    return sources[0];
  }
}

/** The state of one set of corrections: its problems, and the rows it has corrected so far. */
class CorrectionRun {
  readonly problems: CorrectionProblem[] = [];
  problemCount = 0;
  unchanged = 0;
  readonly correctedRows: string[] = [];
  private readonly seen = new Map<string, Pending>();

  constructor(readonly rootId: string) {}

  problem(where: { at: CorrectionProblem['at']; line: number }, message: string): void {
    this.problemCount++;
    if (this.problems.length < MAX_PROBLEMS) {
      this.problems.push({ line: where.line, at: where.at, message });
    }
  }

  /** The checks that need no database: the shape, the reference and the data. */
  check(value: unknown, position: number): Pending | null {
    const correction = (value !== null && typeof value === 'object' ? value : {}) as Partial<
      ItemCorrection<object>
    >;
    const fileLine = correction.fileLine;
    const where =
      Number.isInteger(fileLine) && (fileLine as number) > 0
        ? { at: 'line' as const, line: fileLine as number }
        : { at: 'entry' as const, line: position };
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.problem(where, messages.correctionNotAnObject());
      return null;
    }
    if (typeof correction.problem === 'string') {
      this.problem(where, correction.problem);
      return null;
    }
    const { itemId, line } = correction;
    let reference: Pick<Pending, 'itemId' | 'sourceLine'>;
    if (itemId !== undefined && itemId !== null && itemId !== '') {
      if (typeof itemId !== 'string' || !isUuid(itemId)) {
        this.problem(where, messages.correctionUnknownItem(String(itemId), this.rootId));
        return null;
      }
      reference = { itemId: itemId.toLowerCase() };
    } else if (line !== undefined && line !== null) {
      if (!isSourceLine(line)) {
        this.problem(where, messages.correctionBadLine({ problem: messages.badSourceLine(line) }));
        return null;
      }
      reference = { sourceLine: line };
    } else {
      this.problem(where, messages.correctionNoReference());
      return null;
    }
    const data = correction.data;
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      this.problem(where, messages.correctionNotObject());
      return null;
    }
    const json = serializeSourceData(data, 'data');
    if (isJsonProblem(json)) {
      this.problem(where, `${json.path} ${json.problem}`);
      return null;
    }
    return { position, ...where, ...reference, data: data as Record<string, unknown>, json };
  }

  /** False (with a problem) when an earlier correction of the set names the same row. */
  once(sourceId: string, pending: Pending): boolean {
    const first = this.seen.get(sourceId);
    if (first) {
      this.problem(pending, messages.correctionTwice(first.line, first.at));
      return false;
    }
    this.seen.set(sourceId, pending);
    return true;
  }
}

/**
 * The correction's data, with every field that came back as the text of its stored value (a CSV cell
 * holds text: `5` for the number 5, an empty cell for null or for a field the row does not have) given
 * its stored value again, exactly, so that a file that round-trips through a spreadsheet changes only
 * the cells the user changed. `changed` is false when the correction would leave the row as it is.
 */
function keepUnchanged(
  data: Record<string, unknown>,
  currentJson: string,
  mode: CorrectionMode,
): { json: string; changed: boolean } {
  const parsed = parseExactly(currentJson);
  const current = (parsed !== null && typeof parsed === 'object' ? parsed : {}) as Record<
    string,
    unknown
  >;
  const fields: string[] = [];
  let changed = false;
  for (const [key, value] of Object.entries(data)) {
    const stored = Object.hasOwn(current, key);
    if (!stored && value === '') continue;
    if (stored && typeof value === 'string' && cellText(current[key]) === value) {
      fields.push(`${JSON.stringify(key)}:${exactJson(current[key])}`);
      continue;
    }
    const json = serializeJsonValue(value, key);
    fields.push(`${JSON.stringify(key)}:${isJsonProblem(json) ? 'null' : json}`);
    changed ||= !stored || exactJson(current[key]) !== json;
  }
  if (mode === 'replace') {
    // Fields of the row that the correction leaves out are dropped by a replace.
    const given = new Set(Object.keys(data));
    changed ||= Object.keys(current).some((key) => !given.has(key));
  }
  return { json: `{${fields.join(',')}}`, changed };
}
