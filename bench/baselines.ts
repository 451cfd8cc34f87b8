/**
 * The raw node-postgres baselines: what a careful hand-written loop sends for the module's guarantee, and
 * nothing more, with named (prepared) statements so that PostgreSQL plans each one once per connection.
 */
import { once } from 'node:events';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { row, UPSERT, upsertValues, type Row } from './work';

/** Opens the creation's transaction and inserts its batch row of `n` items; returns the batch's id. */
async function beginBatch(client: Client, n: number): Promise<string> {
  await client.query('BEGIN');
  const { rows } = await client.query<{ id: string }>({
    name: 'bench_create_batch',
    text: `INSERT INTO import_batches (batch_type, total_items) VALUES ('bench_customer', $1) RETURNING id`,
    values: [n],
  });
  return rows[0].id;
}

/**
 * Creation by COPY, the fastest way into PostgreSQL: the batch row, then its items streamed through
 * one `COPY ... FROM STDIN` (text format, through `pg-copy-streams`, as the module's COPY of a chunk),
 * in one transaction. Written a chunk of 1,000 rows at a time, waiting for the stream to drain.
 */
export async function rawCopy(url: string, n: number): Promise<void> {
  await withClient(url, async (client) => {
    const batchId = await beginBatch(client, n);
    const copy = client.query(
      copyFrom('COPY import_batch_items (batch_id, item_index, source_data) FROM STDIN'),
    );
    const done = new Promise<void>((resolve, reject) => {
      copy.on('finish', resolve);
      copy.on('error', reject);
    });
    for (let start = 0; start < n; start += 1000) {
      let text = '';
      for (let i = start; i < Math.min(n, start + 1000); i++) {
        // COPY's text format takes a backslash as an escape: JSON's own escapes must be doubled.
        text += `${batchId}\t${i}\t${JSON.stringify(row(i)).replace(/\\/g, '\\\\')}\n`;
      }
      if (!copy.write(text)) await once(copy, 'drain');
    }
    copy.end();
    await done;
    await client.query('COMMIT');
  });
}

/**
 * Creation: the batch row and its items in one transaction, 1,000 rows per `INSERT ... SELECT` from a
 * jsonb array.
 */
export async function rawCreate(url: string, n: number): Promise<void> {
  await withClient(url, async (client) => {
    const batchId = await beginBatch(client, n);
    for (let start = 0; start < n; start += 1000) {
      const chunk: Row[] = [];
      for (let i = start; i < Math.min(n, start + 1000); i++) chunk.push(row(i));
      await client.query({
        name: 'bench_create_items',
        text:
          'INSERT INTO import_batch_items (batch_id, item_index, source_data) ' +
          'SELECT $1, $2::int + ordinality::int - 1, value FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY',
        values: [batchId, start, JSON.stringify(chunk)],
      });
    }
    await client.query('COMMIT');
  });
}

/**
 * Processing, on `lanes` connections, each taking the items whose index is its own modulo `lanes`: per item
 * `BEGIN`, the upsert, the item's status update fenced on its status (another worker's item is left alone),
 * `COMMIT`. The source rows are read a page of 1,000 at a time, outside the item transactions.
 */
export async function rawProcess(url: string, batchId: string, lanes: number): Promise<void> {
  await Promise.all(
    Array.from({ length: lanes }, (_, lane) =>
      withClient(url, (client) => processLane(client, batchId, lanes, lane)),
    ),
  );
}

async function processLane(
  client: Client,
  batchId: string,
  lanes: number,
  lane: number,
): Promise<void> {
  let after = -1;
  for (;;) {
    const { rows: page } = await client.query<{ id: string; item_index: number; source_data: Row }>(
      {
        name: 'bench_page',
        text:
          'SELECT id, item_index, source_data FROM import_batch_items ' +
          `WHERE batch_id = $1 AND status = 'pending' AND item_index % $2 = $3 AND item_index > $4 ` +
          'ORDER BY item_index LIMIT 1000',
        values: [batchId, lanes, lane, after],
      },
    );
    if (page.length === 0) return;
    for (const item of page) {
      await client.query('BEGIN');
      await client.query({
        name: 'bench_upsert',
        text: UPSERT,
        values: upsertValues(item.source_data),
      });
      const { rowCount } = await client.query({
        name: 'bench_complete',
        text:
          `UPDATE import_batch_items SET status = 'completed', attempts = attempts + 1, ` +
          `started_at = now(), completed_at = now() WHERE id = $1 AND status = 'pending'`,
        values: [item.id],
      });
      await client.query(rowCount === 1 ? 'COMMIT' : 'ROLLBACK');
    }
    after = page[page.length - 1].item_index;
  }
}

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
