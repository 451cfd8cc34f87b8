import { Inject, Injectable } from '@nestjs/common';
import { createHash, type Hash } from 'node:crypto';
import type { QueryRunner } from 'typeorm';
import { IdempotencyConflictError } from '../errors/idempotency-conflict.error';
import { InvalidSourceDataError } from '../errors/invalid-source-data.error';
import { ReliableImportsError } from '../errors/reliable-imports.error';
import type { CreateBatchOptions, ImportItemsSource } from '../interfaces/batch-options.interface';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import { messages } from '../reliable-imports.messages';
import { BATCH_STATUS } from '../statuses';
import {
  CREATE_CHUNK_BYTES,
  CREATE_CHUNK_SIZE,
  MALFORMED_LINE_CODE,
  MAX_VARCHAR_LENGTH,
} from '../reliable-imports.constants';
import {
  describeKind,
  isJsonProblem,
  jsonByteLength,
  jsonSizeProblem,
  serializeJsonValue,
  serializeSourceData,
  sortedJson,
  stringProblem,
} from '../utils/source-data.util';
import { SourceRow } from '../readers/source-row';
import { isSourceLine } from '../utils/source-line.util';
import { storableText, TEXT_LIMITS, visibleCopy } from '../utils/storable-text.util';
import { ImportTelemetry } from '../telemetry/import-telemetry';
import { DatabaseAdapter } from './database-adapter';
import { inTransaction } from './transaction';
import { toBatch, type Row } from './row-mappers';
import {
  batchByIdempotencyKey,
  copyItemsChunk,
  insertBatch,
  insertItemsChunk,
  sealBatch,
} from './statements/creation.statements';
import { notifyBatchCreated } from './statements/batches.statements';

/** While a chunk is in flight, the rows read between two turns of the event loop. */
const YIELD_EVERY_ROWS = 64;

/** Lets the event loop read what the connections received. */
const yieldToIo = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Stores a batch and all its items in one transaction, streaming the items in multi-row chunks so that
 * memory stays flat whatever the number of items.
 */
@Injectable()
export class BatchCreator {
  constructor(
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
    @Inject(ImportTelemetry) private readonly telemetry: ImportTelemetry,
  ) {}

  /**
   * @param requireApproval - the batch waits `awaiting_approval` (resolved by the caller from the call's,
   *   the processor's and the module's option); it is not announced to the workers until approved.
   */
  async create<TSource>(
    batchType: string,
    items: ImportItemsSource<TSource>,
    options: CreateBatchOptions = {},
    requireApproval = false,
  ): Promise<ImportBatch> {
    const key = this.idempotencyKey(
      options.idempotencyKey,
      messages.newBatch({ batchType, idempotencyKey: null }),
    );
    const where = messages.newBatch({ batchType, idempotencyKey: key });
    const iterable = assertIterable(items, where);
    const sourceInfo = this.objectOption(options.sourceInfo, 'sourceInfo', where);
    const metadata = this.objectOption(options.metadata, 'metadata', where);
    // The caller's span, which every run of the batch links to, in whatever process it runs.
    const traceContext = this.telemetry.traceContextToStore();

    type Outcome =
      | { created: ImportBatch }
      | { existing: ImportBatch; contentHashes: string[]; rawHash: unknown };
    const outcome = await inTransaction<Outcome>(this.database, async (transaction) => {
      const [inserted] = await this.database.run<Row>(
        insertBatch({
          batchType,
          sourceInfo,
          metadata,
          idempotencyKey: key,
          parentBatchId: null,
          traceContext,
          status: requireApproval ? BATCH_STATUS.awaitingApproval : BATCH_STATUS.pending,
        }),
        transaction,
      );
      const hash = createHash('sha256').update(batchType);
      if (!inserted) {
        // The key is taken: read the items only to tell a repeated call from a conflicting one. A batch
        // created before hashes were canonical has the hash of its rows' keys as written.
        const asWritten = createHash('sha256').update(batchType);
        await this.consume(iterable, where, batchType, hash, null, asWritten);
        const [existing] = await this.database.run<Row>(
          batchByIdempotencyKey({ idempotencyKey: key }),
          transaction,
        );
        return {
          existing: toBatch(existing),
          contentHashes: [hash.digest('hex'), asWritten.digest('hex')],
          rawHash: existing.content_hash,
        };
      }
      const batch = toBatch(inserted);
      const { total, columns } = await this.consume(iterable, where, batchType, hash, {
        transaction,
        batchId: batch.id,
      });
      const contentHash = hash.digest('hex');
      const [sealed] = await this.database.run<Row>(
        sealBatch({
          batchId: batch.id,
          totalItems: total,
          contentHash,
          sourceColumns: columns === null ? null : JSON.stringify(columns),
        }),
        transaction,
      );
      // A batch that waits for approval is announced when it is approved.
      if (!requireApproval) {
        await this.database.run(notifyBatchCreated({ batchId: batch.id }), transaction);
      }
      return { created: toBatch(sealed) };
    });

    if ('created' in outcome) return outcome.created;
    const { existing, contentHashes, rawHash } = outcome;
    if (existing.batchType !== batchType) {
      throw new IdempotencyConflictError(
        key as string,
        existing.id,
        messages.idempotencyOtherType({ batchType: existing.batchType }),
      );
    }
    if (!contentHashes.includes(rawHash as string)) {
      throw new IdempotencyConflictError(
        key as string,
        existing.id,
        messages.idempotencyOtherItems(),
      );
    }
    return existing;
  }

  /**
   * Validates, hashes and (when a target is given) inserts every item; returns how many there were and the
   * source's column order. A chunk ends at `CREATE_CHUNK_SIZE` items or `CREATE_CHUNK_BYTES`, so that wide
   * rows keep memory flat and a chunk stays far below PostgreSQL's cap on one jsonb value.
   */
  private async consume<TSource>(
    items: ImportItemsSource<TSource>,
    where: string,
    batchType: string,
    hash: Hash,
    target: { transaction: QueryRunner; batchId: string } | null,
    asWritten?: Hash,
  ): Promise<{ total: number; columns: readonly string[] | null }> {
    const chunk = new ChunkBuilder();
    let index = 0;
    let columns: readonly string[] | null = null;
    // A chunk's insert runs while the next chunk is read and checked, so that the server's work and this
    // process's overlap. A chunk read is sent at once, queued on the connection behind the one in flight,
    // and only then is that one waited for: the connection goes from one to the next without waiting for
    // this process, memory holds two chunks at most, and a failed insert stops the creation before
    // another chunk is read.
    const pipe: { inFlight: Promise<unknown> | null } = { inFlight: null };
    const settle = async (): Promise<void> => {
      const sent = pipe.inFlight;
      pipe.inFlight = null;
      await sent;
    };
    const flush = async (): Promise<void> => {
      if (!target || chunk.size === 0) return;
      const previous = pipe.inFlight;
      const at = { batchId: target.batchId, firstIndex: index - chunk.size };
      // COPY where the driver takes it and every row of the chunk is pending; a chunk with a row that
      // could not be read is inserted, with its failure, by the statement that counts it.
      const sent =
        this.database.canCopy && !chunk.hasFailures
          ? this.database.copy(copyItemsChunk({ ...at, ...chunk.drainRows() }), target.transaction)
          : this.database.run(insertItemsChunk({ ...at, ...chunk.drain() }), target.transaction);
      // Never an unhandled rejection while the next chunk is read: its failure is thrown by the next flush
      // or by settle().
      sent.catch(() => undefined);
      pipe.inFlight = sent;
      await previous;
    };
    try {
      for await (const item of items) {
        const row = item instanceof SourceRow ? (item as SourceRow<object>) : null;
        if (row && !isSourceLine(row.line)) {
          // Checked here, not by the column's CHECK: a SQL error would name neither the row nor the fix.
          throw new InvalidSourceDataError({
            where,
            itemIndex: index,
            path: messages.sourceLinePath(),
            problem: messages.badSourceLine(row.line),
            batchType,
          });
        }
        const data: unknown = row ? row.data : item;
        if (index === 0) {
          columns = row?.columns ?? plainKeys(data);
          const problem = row?.columns == null ? null : columnsProblem(row.columns);
          if (problem) {
            throw new InvalidSourceDataError({ where, itemIndex: index, ...problem, batchType });
          }
        }
        // Keys sorted, so that the same rows with their keys in another order have the same hash.
        let json = serializeSourceData(data, 'sourceData', asWritten ? 'as-written' : 'sorted');
        let failure: MalformedRow | null = null;
        if (row) {
          // A row of a file is never refused alone: what cannot be stored of it becomes a failed row with its
          // line, as a malformed line does, so that it is corrected with the others.
          if (isJsonProblem(json)) {
            failure = malformedRow(row.line, `${json.path} ${json.problem}`, null);
            // What can be read of it, for the person who corrects it (a NUL shown as U+FFFD).
            const visible = serializeSourceData(visibleCopy(data), 'sourceData', 'sorted');
            json = isJsonProblem(visible) ? '{}' : visible;
          } else if (row.malformed) {
            failure = malformedRow(row.line, row.malformed.reason, row.malformed.raw);
          }
        }
        if (isJsonProblem(json)) {
          throw new InvalidSourceDataError({ where, itemIndex: index, ...json, batchType });
        }
        if (asWritten) {
          asWritten.update('\n').update(json);
          hash.update('\n').update(sortedJson(json));
        } else hash.update('\n').update(json);
        if (row) hash.update(`\u0001${row.line}`);
        if (failure) hash.update(`\u0001${failure.message}`);
        if (target) {
          // A row that would take the chunk over its size goes into the next one (alone, if it is that big).
          const bytes = jsonByteLength(json);
          if (chunk.bytes + bytes > CREATE_CHUNK_BYTES) await flush();
          chunk.add(json, bytes, row?.line ?? null, failure);
        }
        index++;
        if (chunk.size === CREATE_CHUNK_SIZE || chunk.bytes >= CREATE_CHUNK_BYTES) await flush();
        // A source that yields at once (an array, a generator) would keep the connection's replies
        // waiting while a chunk is read: a COPY sends its rows only once the server's reply to it is read.
        else if (pipe.inFlight && index % YIELD_EVERY_ROWS === 0) await yieldToIo();
      }
      await flush();
      await settle();
    } finally {
      // A bad row or a failing source ends the creation: the insert in flight ends before the
      // transaction rolls back on the same connection.
      await pipe.inFlight?.catch(() => undefined);
    }
    return { total: index, columns };
  }

  /** sourceInfo and metadata: plain objects, checked and serialized as rows are. */
  private objectOption(value: unknown, name: string, where: string): string {
    if (value === undefined || value === null) return '{}';
    const json =
      typeof value === 'object' && !Array.isArray(value)
        ? serializeJsonValue(value, name)
        : { path: name, problem: messages.optionNotPlainObject({ kind: describeKind(value) }) };
    const problem = isJsonProblem(json) ? json : jsonSizeProblem(json, name);
    if (problem) {
      throw new ReliableImportsError(
        'INVALID_BATCH_OPTIONS',
        messages.invalidBatchOption(where, problem.path, problem.problem),
      );
    }
    return json as string;
  }

  /**
   * The key is compared as PostgreSQL stores it: `\u0000` cannot be stored, and the driver would turn an
   * unpaired surrogate into U+FFFD, so that two different keys would become one.
   */
  private idempotencyKey(value: unknown, where: string): string | null {
    if (value === undefined || value === null) return null;
    const textProblem = typeof value === 'string' ? stringProblem(value) : null;
    const problem =
      typeof value !== 'string' || value.length === 0 || value.length > MAX_VARCHAR_LENGTH
        ? messages.idempotencyKeyLength({
            got: typeof value === 'string' ? `${value.length} characters` : describeKind(value),
            max: MAX_VARCHAR_LENGTH,
          })
        : textProblem === 'nul'
          ? messages.idempotencyKeyNul()
          : textProblem === 'surrogate'
            ? messages.idempotencyKeyBrokenText()
            : null;
    if (problem) {
      throw new ReliableImportsError(
        'INVALID_BATCH_OPTIONS',
        messages.invalidBatchOption(where, 'idempotencyKey', problem),
      );
    }
    return value as string;
  }
}

function assertIterable<T>(items: ImportItemsSource<T>, where: string): ImportItemsSource<T> {
  if (
    items !== null &&
    typeof items === 'object' &&
    (Symbol.asyncIterator in items || Symbol.iterator in items)
  ) {
    return items;
  }
  throw new ReliableImportsError('INVALID_BATCH_OPTIONS', messages.itemsNotIterable(where));
}

/** What is wrong with the column names of a `SourceRow` (stored with the batch), or null. */
function columnsProblem(columns: unknown): { path: string; problem: string } | null {
  if (!Array.isArray(columns)) {
    return {
      path: messages.columnsPath(),
      problem: messages.columnsNotList({ kind: describeKind(columns) }),
    };
  }
  const bad = columns.findIndex((name) => typeof name !== 'string');
  if (bad >= 0) {
    return {
      path: messages.columnsPath({ index: bad }),
      problem: messages.columnNameNotString({ kind: describeKind(columns[bad]) }),
    };
  }
  const json = serializeJsonValue(columns, messages.columnsPath());
  return isJsonProblem(json) ? json : jsonSizeProblem(json, messages.columnsPath());
}

/** The column order of items given as plain objects: the first item's keys (jsonb keeps no order). */
function plainKeys(data: unknown): readonly string[] | null {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return null;
  const keys = Object.keys(data);
  return keys.length > 0 ? keys : null;
}

/** How a row that could not be read is stored: failed, with its reason and its raw text. */
interface MalformedRow {
  message: string;
  details: string;
}

function malformedRow(line: number, reason: string, raw: string | null): MalformedRow {
  const message = storableText(
    messages.malformedLine(line, reason, raw !== null),
    TEXT_LIMITS.message,
  ).text;
  const details: Record<string, unknown> = {
    name: 'MalformedLine',
    code: MALFORMED_LINE_CODE,
    reasons: [message],
  };
  if (raw !== null) details.raw = storableText(raw, TEXT_LIMITS.message).text;
  return { message, details: JSON.stringify(details) };
}

/**
 * One multi-row INSERT: the rows' JSON, and beside it their lines and failures, only when some row has one
 * (so that rows from no file cost nothing more).
 */
class ChunkBuilder {
  private json: string[] = [];
  private lines: (number | null)[] = [];
  private failures: string[] = [];
  private hasLines = false;
  bytes = 0;

  get size(): number {
    return this.json.length;
  }

  /** Adds a row's JSON, of `bytes` bytes in UTF-8. */
  add(json: string, bytes: number, line: number | null, failure: MalformedRow | null): void {
    this.json.push(json);
    this.lines.push(line);
    if (line !== null) this.hasLines = true;
    if (failure) {
      this.failures.push(
        `{"ordinality":${this.json.length},"message":${JSON.stringify(failure.message)},"details":${failure.details}}`,
      );
    }
    this.bytes += bytes;
  }

  /** Whether a row of the chunk could not be read: it is stored failed, with its reason. */
  get hasFailures(): boolean {
    return this.failures.length > 0;
  }

  /** The rows and lines of `copyItemsChunk` (a chunk without failures); empties the chunk. */
  drainRows(): { rows: string[]; lines: (number | null)[] | null } {
    const drained = { rows: this.json, lines: this.hasLines ? this.lines : null };
    this.json = [];
    this.lines = [];
    this.hasLines = false;
    this.bytes = 0;
    return drained;
  }

  /** The rows, lines and failures of `insertItemsChunk`; empties the chunk. */
  drain(): { rows: string; lines: (number | null)[] | null; failures: string | null } {
    const drained = {
      rows: `[${this.json.join(',')}]`,
      lines: this.hasLines ? this.lines : null,
      failures: this.failures.length > 0 ? `[${this.failures.join(',')}]` : null,
    };
    this.json = [];
    this.lines = [];
    this.failures = [];
    this.hasLines = false;
    this.bytes = 0;
    return drained;
  }
}
