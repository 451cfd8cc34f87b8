import { toProgress } from '../../lib/processing/progress-reader';
import type { ProgressRow } from '../../lib/processing/statements/progress.statements';

const MEASURED = new Date('2030-01-01T00:01:00Z');
const STARTED = new Date('2030-01-01T00:00:00Z');

/** A running batch of 1,000 rows, 400 done (10 failed, 5 skipped), 4 in flight, 200 done in the last 40 s. */
const row = (changes: Partial<ProgressRow> = {}): ProgressRow => ({
  batch_id: 'b',
  status: 'processing',
  total_items: 1000,
  started_at: STARTED,
  completed_at: null,
  error_message: null,
  measured_at: MEASURED,
  completed: '385',
  failed: '10',
  skipped: '5',
  in_flight: 4,
  cancelled: 0,
  recent: '200',
  recent_seconds: 40,
  ...changes,
});

describe('toProgress: the figures of a reading', () => {
  it.each<[string, Partial<ProgressRow>, Record<string, unknown>]>([
    [
      'a running batch: done, pending, percent, rate over the window, ETA of the rows left',
      {},
      {
        done: 400,
        pending: 596,
        inFlight: 4,
        percent: 40,
        itemsPerSecond: 5,
        etaMs: Math.round((600 / 5) * 1000),
      },
    ],
    [
      'a percentage is rounded down: 999 of 1,000 is not 100',
      { completed: '984', recent: '100', recent_seconds: 50 },
      { done: 999, percent: 99.9, pending: 0, inFlight: 4, etaMs: 2000 },
    ],
    [
      'not started: no rate, no ETA',
      {
        status: 'pending',
        started_at: null,
        completed: 0,
        failed: 0,
        skipped: 0,
        in_flight: 0,
        recent: 0,
        recent_seconds: null,
      },
      { done: 0, pending: 1000, percent: 0, itemsPerSecond: null, etaMs: null },
    ],
    [
      'in its first second: no rate yet',
      { recent_seconds: 0.4 },
      { itemsPerSecond: null, etaMs: null },
    ],
    [
      'stalled for a minute: a rate of 0, no ETA',
      { recent: 0 },
      { itemsPerSecond: 0, etaMs: null },
    ],
    ['paused: no ETA, whatever the rate', { status: 'paused' }, { itemsPerSecond: 5, etaMs: null }],
    [
      'ended: no ETA, the rate of its last minute',
      { status: 'completed', completed_at: MEASURED, in_flight: 0, completed: '985' },
      { pending: 0, percent: 100, itemsPerSecond: 5, etaMs: null, completedAt: MEASURED },
    ],
    [
      'cancelled rows are neither done nor pending',
      { status: 'cancelled', in_flight: 0, cancelled: 600, completed_at: MEASURED },
      { done: 400, pending: 0, cancelled: 600, percent: 40, etaMs: null },
    ],
    [
      'every row done, the batch not ended yet: an ETA of 0',
      { completed: '985', in_flight: 0 },
      { pending: 0, etaMs: 0 },
    ],
    [
      'no rows: 100 percent',
      { total_items: 0, completed: 0, failed: 0, skipped: 0, in_flight: 0, recent: 0 },
      { percent: 100, pending: 0, etaMs: null },
    ],
    [
      'dates given as text (a driver that does not parse them)',
      { started_at: '2030-01-01T00:00:00Z', measured_at: '2030-01-01T00:01:00Z' },
      { startedAt: STARTED, measuredAt: MEASURED },
    ],
  ])('%s', (_case, changes, expected) => {
    expect(toProgress(row(changes))).toMatchObject(expected);
  });
});
