import { Inject, Injectable } from '@nestjs/common';
import { createHash, type Hash } from 'node:crypto';
import type { QueryRunner } from 'typeorm';
import { IdempotencyConflictError } from '../errors/idempotency-conflict.error';
import { InvalidSourceDataError } from '../errors/invalid-source-data.error';
import { ReliableImportsError } from '../errors/reliable-imports.error';
import type { CreateBatchOptions, ImportItemsSource } from '../interfaces/batch-options.interface';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import { messages } from '../reliable-imports.messages';
import { CREATE_CHUNK_BYTES, CREATE_CHUNK_SIZE } from '../reliable-imports.constants';
import {
  isJsonProblem,
  jsonByteLength,
  jsonSizeProblem,
  serializeJsonValue,
  serializeSourceData,
  sortedJson,
} from '../utils/source-data.util';
import { DatabaseAdapter } from './database-adapter';
import { runInItemTransaction } from './item-transaction';
import { toBatch, type Row } from './row-mappers';
import { SQL } from './sql';

/**
 * Stores a batch and all its items in one transaction, streaming the items in multi-row chunks so that
 * memory stays flat whatever the number of items.
 */
@Injectable()
export class BatchCreator {
  constructor(@Inject(DatabaseAdapter) private readonly database: DatabaseAdapter) {}

  async create<TSource>(
    batchType: string,
    items: ImportItemsSource<TSource>,
    options: CreateBatchOptions = {},
  ): Promise<ImportBatch> {
    const newBatch = `a new "${batchType}" batch`;
    const key = this.idempotencyKey(options.idempotencyKey, newBatch);
    const where = key === null ? newBatch : `${newBatch} (idempotency key "${key}")`;
    const iterable = assertIterable(items, where);
    const sourceInfo = this.objectOption(options.sourceInfo, 'sourceInfo', where);
    const metadata = this.objectOption(options.metadata, 'metadata', where);

    type Outcome =
      | { created: ImportBatch }
      | { existing: ImportBatch; contentHashes: string[]; rawHash: unknown };
    const outcome = await runInItemTransaction<Outcome>(this.database, async (transaction) => {
      const [inserted] = await this.database.rows<Row>(transaction, SQL.insertBatch, [
        batchType,
        sourceInfo,
        metadata,
        key,
        null,
      ]);
      const hash = createHash('sha256').update(batchType);
      if (!inserted) {
        // The key is taken: read the items only to tell a repeated call from a conflicting one. A batch
        // created before hashes were canonical has the hash of its rows' keys as written.
        const asWritten = createHash('sha256').update(batchType);
        await this.consume(iterable, where, batchType, hash, null, asWritten);
        const [existing] = await this.database.rows<Row>(transaction, SQL.batchByIdempotencyKey, [
          key,
        ]);
        return {
          existing: toBatch(existing),
          contentHashes: [hash.digest('hex'), asWritten.digest('hex')],
          rawHash: existing.content_hash,
        };
      }
      const batch = toBatch(inserted);
      const total = await this.consume(iterable, where, batchType, hash, {
        transaction,
        batchId: batch.id,
      });
      const contentHash = hash.digest('hex');
      const [sealed] = await this.database.rows<Row>(transaction, SQL.sealBatch, [
        batch.id,
        total,
        contentHash,
      ]);
      await this.database.rows(transaction, SQL.notifyBatchCreated, [batch.id]);
      return { created: toBatch(sealed) };
    });

    if ('created' in outcome) return outcome.created;
    const { existing, contentHashes, rawHash } = outcome;
    if (existing.batchType !== batchType) {
      throw new IdempotencyConflictError(
        key as string,
        existing.id,
        `with the batch type "${existing.batchType}"`,
      );
    }
    if (!contentHashes.includes(rawHash as string)) {
      throw new IdempotencyConflictError(key as string, existing.id, 'with other items');
    }
    return existing;
  }

  /**
   * Validates, hashes and (when a target is given) inserts every item; returns how many there were. A chunk
   * ends at `CREATE_CHUNK_SIZE` items or `CREATE_CHUNK_BYTES`, so that wide rows keep memory flat and a
   * chunk stays far below PostgreSQL's cap on one jsonb value.
   */
  private async consume<TSource>(
    items: ImportItemsSource<TSource>,
    where: string,
    batchType: string,
    hash: Hash,
    target: { transaction: QueryRunner; batchId: string } | null,
    asWritten?: Hash,
  ): Promise<number> {
    let chunk: string[] = [];
    let chunkBytes = 0;
    let index = 0;
    const flush = async (): Promise<void> => {
      if (!target || chunk.length === 0) return;
      await this.insertChunk(target, index - chunk.length, chunk);
      chunk = [];
      chunkBytes = 0;
    };
    for await (const item of items) {
      // Keys sorted, so that the same rows with their keys in another order have the same hash.
      const json = serializeSourceData(item, 'sourceData', asWritten ? 'as-written' : 'sorted');
      if (isJsonProblem(json)) {
        throw new InvalidSourceDataError(where, index, json.path, json.problem, batchType);
      }
      if (asWritten) {
        asWritten.update('\n').update(json);
        hash.update('\n').update(sortedJson(json));
      } else hash.update('\n').update(json);
      if (target) {
        const bytes = jsonByteLength(json);
        // A row that would take the chunk over its size goes into the next one (alone, if it is that big).
        if (chunkBytes + bytes > CREATE_CHUNK_BYTES) await flush();
        chunk.push(json);
        chunkBytes += bytes;
      }
      index++;
      if (chunk.length === CREATE_CHUNK_SIZE || chunkBytes >= CREATE_CHUNK_BYTES) await flush();
    }
    await flush();
    return index;
  }

  private async insertChunk(
    target: { transaction: QueryRunner; batchId: string },
    firstIndex: number,
    chunk: string[],
  ): Promise<void> {
    await this.database.rows(target.transaction, SQL.insertItemsChunk, [
      target.batchId,
      firstIndex,
      `[${chunk.join(',')}]`,
    ]);
  }

  /** sourceInfo and metadata: plain objects, checked and serialized as rows are. */
  private objectOption(value: unknown, name: string, where: string): string {
    if (value === undefined || value === null) return '{}';
    const json =
      typeof value === 'object' && !Array.isArray(value)
        ? serializeJsonValue(value, name)
        : { path: name, problem: `is ${describe(value)}, but it must be a plain object` };
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
    const problem =
      typeof value !== 'string' || value.length === 0 || value.length > 255
        ? `must be a string of 1 to 255 characters; got ${typeof value === 'string' ? `${value.length} characters` : describe(value)}`
        : value.includes('\u0000')
          ? 'contains the character \\u0000, which PostgreSQL cannot store; use printable text'
          : !(value as string & { isWellFormed(): boolean }).isWellFormed()
            ? 'contains an unpaired UTF-16 surrogate (broken text, e.g. an emoji cut in half), which ' +
              'PostgreSQL cannot store as it is; use well-formed text'
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

const describe = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;

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
