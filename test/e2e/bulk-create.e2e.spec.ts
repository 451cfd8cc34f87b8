import { BaseProcessor, ImportProcessor, type ImportItem } from '../../lib';
import { StatementLog } from '../support/statement-log';
import { useTestApp } from '../support/use-test-app';

interface Reading {
  sensor: string;
  seq: number;
  value: number;
}

@ImportProcessor()
class SensorReadingProcessor extends BaseProcessor<Reading> {
  processItem(_item: ImportItem<Reading>): void {}
}

const COUNT = 100_000;

async function* readings(): AsyncGenerator<Reading> {
  for (let seq = 0; seq < COUNT; seq++) {
    if (seq % 5000 === 0) await new Promise((resolve) => setImmediate(resolve));
    yield { sensor: `s-${seq % 17}`, seq, value: seq * 0.5 };
  }
}

describe('bulk create', () => {
  const logger = new StatementLog();
  const t = useTestApp([SensorReadingProcessor], { typeorm: { logger } });

  it('stores 100,000 items from an async generator in multi-row chunks, in order', async () => {
    logger.statements = [];
    const batch = await t.batches.createBatch('sensor_reading', readings());
    const sent = logger.statements;

    expect(batch.totalItems).toBe(COUNT);
    // By COPY on node-postgres (an INSERT of many rows where a chunk holds a row that could not be read).
    const itemInserts = sent.filter((sql) =>
      /INSERT INTO "import_batch_items"|COPY "import_batch_items"/.test(sql),
    );
    expect(itemInserts.length).toBeGreaterThan(0);
    expect(itemInserts.length).toBeLessThanOrEqual(COUNT / 1000);
    expect(sent.length).toBeLessThan(COUNT / 500);

    const [stats] = await t.dataSource.query<
      { count: number; min: number; max: number; in_order: boolean }[]
    >(
      `SELECT count(*)::int AS count, min(item_index) AS min, max(item_index) AS max,
              bool_and((source_data->>'seq')::int = item_index) AS in_order
       FROM import_batch_items WHERE batch_id = $1`,
      [batch.id],
    );
    expect(stats).toEqual({ count: COUNT, min: 0, max: COUNT - 1, in_order: true });
  });
});
