import { RELIABLE_IMPORTS_EVENTS, type ImportRowFailedEvent } from '../../lib';
import { fitEvent, readEvent } from '../../lib/events/event-payloads';
import { MAX_EVENT_PAYLOAD_BYTES } from '../../lib/processing/statements/events.statements';

const rowFailed = (errorMessage: string): ImportRowFailedEvent => ({
  name: RELIABLE_IMPORTS_EVENTS.rowFailed,
  batchId: '6c1f0a52-8d55-4c8e-9a57-1f6f3f1f7e01',
  batchType: 'customers',
  status: 'processing',
  at: new Date('2026-01-02T03:04:05.678Z'),
  instanceId: 'host:123:abcdef01',
  itemId: '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9',
  itemIndex: 41,
  sourceLine: 43,
  errorMessage,
  errorCode: '23505',
  attempts: 3,
});

describe('an event on the wire', () => {
  it('is sent whole when it fits, and read back equal, its time a Date again', () => {
    const event = rowFailed('duplicate key value violates unique constraint "customers_email_key"');
    const { event: fitted, json } = fitEvent(event);
    expect(fitted).toEqual(event);
    expect(readEvent(json)).toEqual(event);
  });

  it.each([
    ['a long text', 'x'.repeat(50_000)],
    ['control characters (six bytes each in JSON)', '\u0001'.repeat(20_000)],
    ['four-byte characters', '\u{1F4A5}'.repeat(20_000)],
    ['quotes and backslashes', '"\\'.repeat(20_000)],
  ])('cuts %s so that it fits in a notification', (_name, text) => {
    const { event, json } = fitEvent(rowFailed(text));
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(MAX_EVENT_PAYLOAD_BYTES);
    expect(text.startsWith(event.errorMessage.slice(0, 40))).toBe(true);
    // Not between the halves of a character.
    expect(event.errorMessage).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    expect(readEvent(json)).toEqual(event);
    // Names are never cut.
    expect(event).toMatchObject({ batchId: rowFailed('').batchId, itemId: rowFailed('').itemId });
  });

  it('reads back the dates of a progress event', () => {
    const measuredAt = new Date('2026-01-02T03:04:06.000Z');
    const { json } = fitEvent({
      ...rowFailed('x'),
      name: RELIABLE_IMPORTS_EVENTS.batchProgress,
      progress: { startedAt: measuredAt, completedAt: null, measuredAt, done: 3 },
    } as never);
    expect(readEvent(json)).toMatchObject({
      progress: { startedAt: measuredAt, completedAt: null, measuredAt, done: 3 },
    });
  });

  it.each([
    ['not JSON', 'hello'],
    ['no object', '"a string"'],
    ['another name', JSON.stringify({ ...rowFailed('x'), name: 'something.else' })],
    ['no instance', JSON.stringify({ ...rowFailed('x'), instanceId: 7 })],
  ])('is refused when it is %s (anyone may NOTIFY on the channel)', (_name, payload) => {
    expect(typeof readEvent(payload)).toBe('string');
  });
});

describe('without @nestjs/event-emitter installed', () => {
  it('finds no event emitter, and the publisher publishes to nobody without throwing', () => {
    jest.isolateModules(() => {
      jest.doMock('@nestjs/event-emitter', () => {
        throw new Error("Cannot find module '@nestjs/event-emitter'");
      });
      type Publisher = typeof import('../../lib/events/import-event-publisher');
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded with the mock in place
      const loaded = require('../../lib/events/import-event-publisher') as Publisher;
      const { ImportEventPublisher, loadEventEmitterClass } = loaded;
      expect(loadEventEmitterClass()).toBeNull();
      const database = { singleConnection: true };
      const publisher = new ImportEventPublisher(
        { get: () => ({}) } as never,
        { leaseMs: 1000 } as never,
        database as never,
      );
      publisher.onModuleInit();
      expect(() =>
        publisher.publish(RELIABLE_IMPORTS_EVENTS.batchPaused, {
          batchId: 'b',
          batchType: 't',
          status: 'paused',
          reason: null,
        }),
      ).not.toThrow();
    });
  });
});
