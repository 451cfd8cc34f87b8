import { Injectable, Logger } from '@nestjs/common';
import { EventEmitter2, EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import type { Client } from 'pg';
import {
  BaseProcessor,
  BATCH_STATUS,
  ImportProcessor,
  RELIABLE_IMPORTS_EVENTS,
  reliableImportsMigrations,
  type ImportBatch,
  type ImportItem,
  type ImportRowFailedEvent,
  type ReliableImportsEvent,
  type ReliableImportsEventName,
  type ValidationResult,
} from '../../lib';
import { EVENTS_CHANNEL } from '../../lib/processing/statements/events.statements';
import { PGliteDriver } from 'typeorm-pglite';
import { createTestApp, type TestApp, type TestAppOptions } from '../fixtures/test-app';
import { Gate } from '../support/gate';
import { waitFor } from '../support/timing';
import { useTestDatabase } from '../support/use-test-app';

interface Row {
  n: number;
  fail?: string;
}

/**
 * `fail` rows throw their text; `gate` holds row `gateAt`; a batch with `metadata.refuse` is refused, one
 * with `metadata.explode` makes `onBatchStart` throw.
 */
@ImportProcessor()
class EventfulProcessor extends BaseProcessor<Row> {
  gate: Gate | null = null;
  gateAt = -1;

  validateBatch(batch: ImportBatch): ValidationResult {
    return batch.metadata.refuse ? 'refused for the test' : true;
  }

  onBatchStart(batch: ImportBatch): void {
    if (batch.metadata.explode) throw new Error('onBatchStart exploded');
  }

  async processItem(item: ImportItem<Row>): Promise<void> {
    if (item.sourceData.n === this.gateAt) await this.gate?.pass();
    if (item.sourceData.fail !== undefined) throw new Error(item.sourceData.fail);
  }
}

/** A listener that throws on every failed row, as a careless application's might (Nest logs it). */
@Injectable()
class ThrowingListener {
  heard = 0;

  @OnEvent(RELIABLE_IMPORTS_EVENTS.rowFailed, { suppressErrors: false })
  onRowFailed(event: ImportRowFailedEvent): void {
    this.heard++;
    throw new Error(`listener refuses row ${event.itemIndex}`);
  }
}

/** The events that tell of a change, in order: without progress, whose number depends on the timing. */
const milestones = (names: ReliableImportsEventName[]): ReliableImportsEventName[] =>
  names.filter((name) => name !== RELIABLE_IMPORTS_EVENTS.batchProgress);

const rows = (count: number, fail: (n: number) => string | undefined = () => undefined): Row[] =>
  Array.from({ length: count }, (_, n) => {
    const text = fail(n);
    return text === undefined ? { n } : { n, fail: text };
  });

/** An app on the file's database, and every event of the module it hears, in order. */
interface EventApp extends TestApp {
  events: ReliableImportsEvent[];
  /** The events of one batch, in order. */
  of(batchId: string): ReliableImportsEvent[];
  names(batchId: string): ReliableImportsEventName[];
}

describe('events', () => {
  const database = useTestDatabase();
  let admin: Client;
  /** Runs the batches; its worker is off. */
  let runner: EventApp;
  /** Another instance on the same database: runs nothing, hears everything. */
  let listener: EventApp;

  const start = async (
    options: TestAppOptions & {
      emitter?: boolean;
      providers?: unknown[];
      applicationName?: string;
    } = {},
  ): Promise<EventApp> => {
    const {
      emitter = true,
      providers = [],
      applicationName = 'ri_events',
      ...appOptions
    } = options;
    const url = new URL(database.db.url);
    url.searchParams.set('application_name', applicationName);
    const app = await createTestApp(
      url.toString(),
      [EventfulProcessor, ...(providers as never[])],
      {
        ...appOptions,
        module: { worker: { pollIntervalMs: 50 }, ...appOptions.module },
        imports: emitter ? [EventEmitterModule.forRoot(), ...(appOptions.imports ?? [])] : [],
      },
    );
    database.closeBeforeCheck(() => app.close());
    const events: ReliableImportsEvent[] = [];
    if (emitter) {
      app.app.get(EventEmitter2).onAny((name: string | string[], event: unknown) => {
        if (String(name).startsWith('reliable-imports.'))
          events.push(event as ReliableImportsEvent);
      });
    }
    const of = (batchId: string) => events.filter((event) => event.batchId === batchId);
    return { ...app, events, of, names: (batchId) => of(batchId).map((event) => event.name) };
  };

  /** Waits until `app` has heard `name` for the batch (`count` times). */
  const hear = (app: EventApp, batchId: string, name: ReliableImportsEventName, count = 1) =>
    waitFor(() => app.names(batchId).filter((heard) => heard === name).length >= count, {
      what: `${name} of ${batchId}`,
    });

  /**
   * Waits until `app` has heard an event published after everything before: the notifications of one
   * instance reach another in the order they were sent, so by then nothing earlier is on its way.
   */
  const settle = async (app: EventApp, from: EventApp) => {
    const marker = await from.batches.createBatch('eventful', rows(1));
    await from.batches.pauseBatch(marker.id, { reason: 'marker' });
    await hear(app, marker.id, RELIABLE_IMPORTS_EVENTS.batchPaused);
    await from.batches.cancelBatch(marker.id);
  };

  beforeAll(async () => {
    admin = await database.connect();
    runner = await start();
    listener = await start();
  });
  beforeEach(() => Object.assign(runner.app.get(EventfulProcessor), { gate: null, gateAt: -1 }));

  it('the creating instance hears every event of a batch in order, and another instance the same ones in the same order', async () => {
    const processor = runner.app.get(EventfulProcessor);
    const batch = await runner.batches.createBatch(
      'eventful',
      rows(12, (n) => (n === 3 || n === 9 ? `row ${n} is wrong` : undefined)),
    );
    // Row 6 waits until a progress event has been heard, so that the run publishes at least one.
    processor.gate = new Gate();
    processor.gateAt = 6;
    const running = runner.batches.processBatch(batch.id, { continueOnError: true });
    await processor.gate.entered;
    await hear(listener, batch.id, RELIABLE_IMPORTS_EVENTS.batchProgress);
    processor.gate.release();
    const summary = await running;
    expect(summary).toMatchObject({ status: BATCH_STATUS.completedWithErrors, failedItems: 2 });
    await hear(listener, batch.id, RELIABLE_IMPORTS_EVENTS.batchCompleted);
    await settle(runner, listener);

    const names = runner.names(batch.id);
    expect(names[0]).toBe(RELIABLE_IMPORTS_EVENTS.batchStarted);
    expect(names.at(-1)).toBe(RELIABLE_IMPORTS_EVENTS.batchCompleted);
    expect(names).toContain(RELIABLE_IMPORTS_EVENTS.batchProgress);
    expect(new Set(names.slice(1, -1))).toEqual(
      new Set([RELIABLE_IMPORTS_EVENTS.batchProgress, RELIABLE_IMPORTS_EVENTS.rowFailed]),
    );
    const events = runner.of(batch.id);
    expect(
      events.filter((event) => event.name === RELIABLE_IMPORTS_EVENTS.rowFailed),
    ).toMatchObject([
      { itemIndex: 3, errorMessage: 'row 3 is wrong', attempts: 1, status: 'processing' },
      { itemIndex: 9, errorMessage: 'row 9 is wrong', attempts: 1, status: 'processing' },
    ]);
    const done = events.flatMap((event) =>
      event.name === RELIABLE_IMPORTS_EVENTS.batchProgress ? [event.progress.done] : [],
    );
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(events[0]).toMatchObject({
      batchId: batch.id,
      batchType: 'eventful',
      status: BATCH_STATUS.processing,
      totalItems: 12,
      parentBatchId: null,
    });
    expect(events.at(-1)).toMatchObject({
      status: BATCH_STATUS.completedWithErrors,
      totalItems: 12,
      completedItems: 10,
      failedItems: 2,
      skippedItems: 0,
      cancelledItems: 0,
    });
    const runnerId = events[0].instanceId;
    for (const event of events) {
      expect(event.at).toBeInstanceOf(Date);
      expect(event.instanceId).toBe(runnerId);
    }
    // The other instance heard the very same events, in the same order, each once; and the runner heard
    // its own once (not again from the channel).
    expect(listener.of(batch.id)).toEqual(events);
    expect(new Set(events.map((event) => JSON.stringify(event))).size).toBe(events.length);
  });

  it('pause, resume and cancel: every instance hears them in order, whichever instance did them', async () => {
    const processor = runner.app.get(EventfulProcessor);
    const batch = await runner.batches.createBatch('eventful', rows(20));
    processor.gate = new Gate();
    processor.gateAt = 2;
    const running = runner.batches.processBatch(batch.id);
    await processor.gate.entered;
    // Paused by the other instance, while the runner's row is in flight.
    await listener.batches.pauseBatch(batch.id, { reason: 'checking the file' });
    processor.gate.release();
    expect((await running).status).toBe(BATCH_STATUS.paused);
    await listener.batches.resumeBatch(batch.id);
    const cancelledBatch = await runner.batches.cancelBatch(batch.id, {
      reason: 'wrong file after all',
    });
    await hear(listener, batch.id, RELIABLE_IMPORTS_EVENTS.batchCancelled);
    await hear(runner, batch.id, RELIABLE_IMPORTS_EVENTS.batchResumed);
    await settle(runner, listener);
    await settle(listener, runner);

    const expected = [
      RELIABLE_IMPORTS_EVENTS.batchStarted,
      RELIABLE_IMPORTS_EVENTS.batchPaused,
      RELIABLE_IMPORTS_EVENTS.batchResumed,
      RELIABLE_IMPORTS_EVENTS.batchCancelled,
    ];
    const withoutProgress = (app: EventApp) =>
      app.of(batch.id).filter((event) => event.name !== RELIABLE_IMPORTS_EVENTS.batchProgress);
    expect(withoutProgress(runner).map((event) => event.name)).toEqual(expected);
    expect(withoutProgress(listener)).toEqual(withoutProgress(runner));
    const [, paused, resumed, cancelled] = withoutProgress(runner);
    expect(paused).toMatchObject({ status: BATCH_STATUS.paused, reason: 'checking the file' });
    // Paused and resumed by the listener's instance, started and cancelled by the runner's.
    expect(paused.instanceId).toBe(resumed.instanceId);
    expect(paused.instanceId).not.toBe(withoutProgress(runner)[0].instanceId);
    expect(cancelled.instanceId).toBe(withoutProgress(runner)[0].instanceId);
    expect(resumed).toMatchObject({ status: BATCH_STATUS.processing, requeuedItems: 0 });
    expect(cancelled).toMatchObject({
      status: BATCH_STATUS.cancelled,
      reason: 'cancelled: wrong file after all',
    });
    expect(cancelled).toMatchObject({ cancelledItems: cancelledBatch.cancelledItems });
  });

  it('a spent error budget pauses the batch with its reason; a refused, a stopped and an abandoned batch fail', async () => {
    const budget = await runner.batches.createBatch(
      'eventful',
      rows(30, (n) => (n < 10 ? 'bad' : undefined)),
    );
    await runner.batches.processBatch(budget.id, { continueOnError: true, maxFailures: 3 });
    const refused = await runner.batches.createBatch('eventful', rows(3), {
      metadata: { refuse: true },
    });
    await runner.batches.processBatch(refused.id);
    const stopped = await runner.batches.createBatch(
      'eventful',
      rows(5, (n) => (n === 1 ? 'stop here' : undefined)),
    );
    await runner.batches.processBatch(stopped.id, { continueOnError: false });
    const abandoned = await runner.batches.createBatch('eventful', rows(2), {
      metadata: { explode: true },
    });
    await expect(runner.batches.processBatch(abandoned.id)).rejects.toThrow('exploded');
    await hear(listener, abandoned.id, RELIABLE_IMPORTS_EVENTS.batchFailed);

    const paused = runner.of(budget.id).find((e) => e.name === RELIABLE_IMPORTS_EVENTS.batchPaused);
    expect(paused).toMatchObject({ status: BATCH_STATUS.paused });
    expect((paused as { reason: string }).reason).toMatch(/^stopped: \d+ of \d+ rows failed/);
    expect(milestones(runner.names(refused.id))).toEqual([
      RELIABLE_IMPORTS_EVENTS.batchStarted,
      RELIABLE_IMPORTS_EVENTS.batchFailed,
    ]);
    // A progress event may come between the milestones on a slow machine: found by name.
    const withoutProgress = (app: EventApp, batchId: string) =>
      app.of(batchId).filter((event) => event.name !== RELIABLE_IMPORTS_EVENTS.batchProgress);
    expect(withoutProgress(runner, refused.id)[1]).toMatchObject({
      status: BATCH_STATUS.failed,
      reason: expect.stringContaining('refused for the test'),
    });
    expect(runner.of(stopped.id).at(-1)).toMatchObject({
      name: RELIABLE_IMPORTS_EVENTS.batchFailed,
      status: BATCH_STATUS.failed,
      reason: expect.stringContaining('stop here'),
      failedItems: 1,
    });
    expect(listener.of(stopped.id)).toEqual(runner.of(stopped.id));
    expect(withoutProgress(listener, abandoned.id)).toMatchObject([
      { name: RELIABLE_IMPORTS_EVENTS.batchStarted },
      {
        name: RELIABLE_IMPORTS_EVENTS.batchFailed,
        status: BATCH_STATUS.failed,
        reason: expect.stringContaining('onBatchStart exploded'),
      },
    ]);
  });

  it('approval and rejection reach every instance', async () => {
    const approved = await runner.batches.createBatch('eventful', rows(2), {
      requireApproval: true,
    });
    const rejected = await runner.batches.createBatch('eventful', rows(2), {
      requireApproval: true,
    });
    await listener.batches.approveBatch(approved.id);
    // Heard before the run starts: another instance's event comes by NOTIFY, this instance's own at once.
    await hear(runner, approved.id, RELIABLE_IMPORTS_EVENTS.batchApproved);
    await runner.batches.processBatch(approved.id);
    await listener.batches.rejectBatch(rejected.id, 'not this month');
    await hear(runner, rejected.id, RELIABLE_IMPORTS_EVENTS.batchRejected);
    await hear(listener, approved.id, RELIABLE_IMPORTS_EVENTS.batchCompleted);
    // Progress events come as often as the run lasts a poll interval: on a slow machine, one may.
    expect(milestones(runner.names(approved.id))).toEqual([
      RELIABLE_IMPORTS_EVENTS.batchApproved,
      RELIABLE_IMPORTS_EVENTS.batchStarted,
      RELIABLE_IMPORTS_EVENTS.batchCompleted,
    ]);
    expect(listener.of(approved.id)).toEqual(runner.of(approved.id));
    expect(runner.of(approved.id)[0]).toMatchObject({ status: BATCH_STATUS.pending });
    expect(runner.of(rejected.id)).toMatchObject([
      { status: BATCH_STATUS.rejected, reason: 'not this month' },
    ]);
  });

  it('a listener that throws does not fail the batch, in the instance that runs it or another', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    // A listener whose promise rejects in the instance that runs the batch; one that throws at once in
    // the instance that hears it.
    const careless = await start({ providers: [ThrowingListener] });
    const raw = (): never => {
      throw new Error('raw listener refuses');
    };
    listener.app.get(EventEmitter2).on(RELIABLE_IMPORTS_EVENTS.rowFailed, raw);
    try {
      const batch = await careless.batches.createBatch(
        'eventful',
        rows(6, (n) => (n % 2 === 0 ? 'bad' : undefined)),
      );
      const summary = await careless.batches.processBatch(batch.id, { continueOnError: true });
      expect(summary).toMatchObject({
        status: BATCH_STATUS.completedWithErrors,
        completedItems: 3,
        failedItems: 3,
      });
      expect(careless.app.get(ThrowingListener).heard).toBe(3);
      expect(careless.names(batch.id).at(-1)).toBe(RELIABLE_IMPORTS_EVENTS.batchCompleted);
      // The other instance goes on hearing the events after its listener threw.
      await hear(listener, batch.id, RELIABLE_IMPORTS_EVENTS.batchCompleted);
      expect(listener.of(batch.id)).toEqual(careless.of(batch.id));
      const warnings = warn.mock.calls.map(([message]) => String(message));
      expect(warnings).toEqual(
        expect.arrayContaining([
          expect.stringContaining('listener refuses row 0'),
          expect.stringContaining('raw listener refuses'),
        ]),
      );
    } finally {
      warn.mockRestore();
      listener.app.get(EventEmitter2).off(RELIABLE_IMPORTS_EVENTS.rowFailed, raw);
    }
  });

  it('an app without the event emitter works as before, and its events still reach the instances that listen', async () => {
    const plain = await start({ emitter: false, applicationName: 'ri_plain' });
    const batch = await plain.batches.createBatch(
      'eventful',
      rows(4, (n) => (n === 2 ? 'bad' : undefined)),
    );
    expect(await plain.batches.processBatch(batch.id, { continueOnError: true })).toMatchObject({
      status: BATCH_STATUS.completedWithErrors,
      failedItems: 1,
    });
    const paused = await plain.batches.createBatch('eventful', rows(2));
    await plain.batches.pauseBatch(paused.id);
    await plain.batches.resumeBatch(paused.id);
    await plain.batches.cancelBatch(paused.id);
    await hear(listener, batch.id, RELIABLE_IMPORTS_EVENTS.batchCompleted);
    await hear(listener, paused.id, RELIABLE_IMPORTS_EVENTS.batchCancelled);
    expect(listener.names(batch.id)).toEqual(
      expect.arrayContaining([
        RELIABLE_IMPORTS_EVENTS.batchStarted,
        RELIABLE_IMPORTS_EVENTS.rowFailed,
        RELIABLE_IMPORTS_EVENTS.batchCompleted,
      ]),
    );
    expect(listener.names(paused.id)).toEqual([
      RELIABLE_IMPORTS_EVENTS.batchPaused,
      RELIABLE_IMPORTS_EVENTS.batchResumed,
      RELIABLE_IMPORTS_EVENTS.batchCancelled,
    ]);
    // Without an emitter it has no listeners to hand events to: it does not LISTEN.
    const listening = async (applicationName: string) =>
      (
        await admin.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = $1 AND query = $2`,
          [applicationName, `LISTEN "${EVENTS_CHANNEL}"`],
        )
      ).rows[0].n;
    expect(await listening('ri_plain')).toBe(0);
    expect(await listening('ri_events')).toBeGreaterThanOrEqual(2);
  });

  it('hostile text in a reason and a huge error message arrive intact or cut, under the notification limit', async () => {
    const payloads: string[] = [];
    const spy = await database.connect();
    spy.on('notification', (message) => {
      if (message.channel === EVENTS_CHANNEL) payloads.push(message.payload ?? '');
    });
    await spy.query(`LISTEN "${EVENTS_CHANNEL}"`);
    const hostile = `"}]\\'; DROP TABLE import_batches; --\n\t\u2028\u2029 ${'\u{1F4A5}'} <script>${'\\u0000'}`;
    const huge = '\u0001'.repeat(30_000);
    const batch = await runner.batches.createBatch(
      'eventful',
      rows(3, (n) => (n === 0 ? huge : n === 1 ? hostile : undefined)),
    );
    await runner.batches.processBatch(batch.id, { continueOnError: true });
    const paused = await runner.batches.createBatch('eventful', rows(1));
    await runner.batches.pauseBatch(paused.id, { reason: hostile });
    await hear(listener, batch.id, RELIABLE_IMPORTS_EVENTS.batchCompleted);
    await hear(listener, paused.id, RELIABLE_IMPORTS_EVENTS.batchPaused);

    expect(listener.of(paused.id)[0]).toMatchObject({ reason: hostile });
    const failed = listener
      .of(batch.id)
      .filter(
        (event): event is ImportRowFailedEvent => event.name === 'reliable-imports.row.failed',
      );
    expect(failed.map((event) => event.itemIndex)).toEqual([0, 1]);
    expect(failed[1].errorMessage).toBe(hostile);
    // Cut, but the start of the message is there, and it says how much was left out.
    expect(failed[0].errorMessage.startsWith('\u0001'.repeat(50))).toBe(true);
    expect(failed[0].errorMessage.length).toBeLessThan(1_100);
    expect(failed[0]).toEqual(runner.of(batch.id).find((event) => event.name === failed[0].name));
    await waitFor(() => payloads.some((payload) => payload.includes(paused.id)));
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThan(8_000);
  });
});

describe('events on PGlite (one connection)', () => {
  it('reach the listeners of the instance, in order, after one warning that no other instance hears them', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const app = await createTestApp(undefined, [EventfulProcessor], {
      typeorm: {
        driver: new PGliteDriver({}).driver,
        migrations: reliableImportsMigrations,
        migrationsRun: true,
      },
      imports: [EventEmitterModule.forRoot()],
    });
    try {
      const heard: ReliableImportsEvent[] = [];
      app.app.get(EventEmitter2).onAny((_name: string | string[], event: unknown) => {
        heard.push(event as ReliableImportsEvent);
      });
      const batch = await app.batches.createBatch(
        'eventful',
        rows(3, (n) => (n === 1 ? 'bad' : undefined)),
      );
      await app.batches.processBatch(batch.id, { continueOnError: true });
      expect(
        heard
          .map((event) => event.name)
          .filter((name) => name !== RELIABLE_IMPORTS_EVENTS.batchProgress),
      ).toEqual([
        RELIABLE_IMPORTS_EVENTS.batchStarted,
        RELIABLE_IMPORTS_EVENTS.rowFailed,
        RELIABLE_IMPORTS_EVENTS.batchCompleted,
      ]);
      const warnings = warn.mock.calls.map(([message]) => String(message));
      expect(warnings.filter((message) => message.includes('reach only the listeners'))).toEqual([
        expect.stringContaining('one connection (PGlite)'),
      ]);
    } finally {
      warn.mockRestore();
      await app.close();
    }
  });
});
