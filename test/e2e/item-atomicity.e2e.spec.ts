import { BaseProcessor, ImportProcessor, type ImportContext, type ImportItem } from '../../lib';
import { useTestApp } from '../support/use-test-app';

class DuplicateNoteError extends Error {
  override name = 'DuplicateNoteError';
}

interface NoteRow {
  text: string;
  explode?: boolean;
  skip?: boolean;
}

/** Writes a note, logs, and then throws or skips when the row asks for it. */
@ImportProcessor()
class NoteProcessor extends BaseProcessor<NoteRow> {
  async processItem(item: ImportItem<NoteRow>, ctx: ImportContext<NoteRow>) {
    const [note] = await ctx.query<{ id: number }>(
      'INSERT INTO notes (text) VALUES ($1) RETURNING id',
      [item.sourceData.text],
    );
    ctx.log.info('note written', { noteId: note.id });
    if (item.sourceData.skip) return ctx.skip('notes of this kind are not imported');
    if (item.sourceData.explode)
      throw new DuplicateNoteError(`note "${item.sourceData.text}" exploded`);
    return { targetTable: 'notes', targetId: note.id };
  }
}

describe('one item, one transaction', () => {
  const t = useTestApp([NoteProcessor]);

  beforeAll(async () => {
    await t.dataSource.query('CREATE TABLE notes (id serial PRIMARY KEY, text text NOT NULL)');
  });

  const notes = async (): Promise<string[]> =>
    (await t.dataSource.query<{ text: string }[]>('SELECT text FROM notes ORDER BY id')).map(
      (r) => r.text,
    );

  it('rolls back the writes of an item that throws, records why, and keeps its logs', async () => {
    const summary = await t.batches.import('note', [
      { text: 'first' },
      { text: 'boom', explode: true },
      { text: 'third' },
    ]);
    expect(summary).toMatchObject({
      status: 'completed_with_errors',
      completedItems: 2,
      failedItems: 1,
    });
    expect(await notes()).toEqual(['first', 'third']);

    const [failed] = await t.batches.getItems(summary.batchId, { status: 'failed' });
    expect(failed).toMatchObject({
      itemIndex: 1,
      errorMessage: 'note "boom" exploded',
      attempts: 1,
      processedData: null,
      targetId: null,
    });
    expect(failed.errorDetails).toMatchObject({ name: 'DuplicateNoteError' });
    // No stack unless the storeErrorStacks option asks for it: it holds the server's paths.
    expect(failed.errorDetails?.stack).toBeUndefined();

    const logs = await t.batches.getLogs(summary.batchId, { itemId: failed.id });
    expect(logs.map((entry) => [entry.level, entry.message])).toEqual([
      ['info', 'note written'],
      ['error', 'Item 1 failed: note "boom" exploded'],
    ]);
    expect(logs[0].details).toEqual({ noteId: expect.any(Number) });

    const completed = await t.batches.getItems(summary.batchId, { status: 'completed' });
    expect(completed.map((item) => [item.targetTable, item.processedData])).toEqual([
      ['notes', { targetTable: 'notes', targetId: expect.any(Number) }],
      ['notes', { targetTable: 'notes', targetId: expect.any(Number) }],
    ]);
    expect(completed[0].targetId).toMatch(/^\d+$/);
  });

  it('records a database error with its SQLSTATE code', async () => {
    const summary = await t.batches.import('note', [{ text: null as unknown as string }]);
    const [failed] = await t.batches.getItems(summary.batchId, { status: 'failed' });
    expect(failed.errorMessage).toMatch(/null value in column "text"/);
    expect(failed.errorDetails).toMatchObject({ name: 'QueryFailedError', code: '23502' });
  });

  it('rolls back a skipped item and records the reason', async () => {
    const before = (await notes()).length;
    const summary = await t.batches.import('note', [{ text: 'skipped', skip: true }]);
    expect(summary).toMatchObject({ status: 'completed', skippedItems: 1, completedItems: 0 });
    expect(await notes()).toHaveLength(before);
    const [item] = await t.batches.getItems(summary.batchId);
    expect(item).toMatchObject({
      status: 'skipped',
      errorMessage: 'notes of this kind are not imported',
    });
  });

  it('never processes a committed item again', async () => {
    const summary = await t.batches.import('note', [{ text: 'once' }]);
    const again = await t.batches.processBatch(summary.batchId);
    expect(again).toMatchObject({ status: 'completed', completedItems: 1 });
    expect((await notes()).filter((text) => text === 'once')).toHaveLength(1);
  });
});
