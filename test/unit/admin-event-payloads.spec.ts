import {
  RELIABLE_IMPORTS_EVENTS,
  type BatchProgress,
  type ReliableImportsEvent,
  type ReliableImportsEventMap,
  type ReliableImportsEventName,
} from '../../lib';
import { eventWithoutExtras } from '../../lib/admin/without-stacks';

const base = {
  batchId: '6c1f0a52-8d55-4c8e-9a57-1f6f3f1f7e01',
  batchType: 'customers',
  at: new Date('2026-01-02T03:04:05.678Z'),
  instanceId: 'host:123:abcdef01',
};
const counts = {
  totalItems: 3,
  completedItems: 1,
  failedItems: 1,
  skippedItems: 0,
  cancelledItems: 1,
};
const progress: BatchProgress = {
  batchId: base.batchId,
  status: 'processing',
  totalItems: 3,
  completed: 1,
  failed: 0,
  skipped: 0,
  cancelled: 0,
  inFlight: 1,
  pending: 1,
  done: 1,
  percent: 33,
  itemsPerSecond: 2,
  etaMs: 1000,
  startedAt: base.at,
  completedAt: null,
  errorMessage: null,
  measuredAt: base.at,
};

/**
 * One event of each name, every field given: each is typed as its interface, so a field added to an
 * interface must be added here, and then to what the stream sends.
 */
const EVENTS: { [N in ReliableImportsEventName]: ReliableImportsEventMap[N] } = {
  [RELIABLE_IMPORTS_EVENTS.batchStarted]: {
    ...base,
    name: RELIABLE_IMPORTS_EVENTS.batchStarted,
    status: 'processing',
    totalItems: 3,
    parentBatchId: null,
  },
  [RELIABLE_IMPORTS_EVENTS.batchProgress]: {
    ...base,
    name: RELIABLE_IMPORTS_EVENTS.batchProgress,
    status: 'processing',
    progress,
  },
  [RELIABLE_IMPORTS_EVENTS.batchPaused]: {
    ...base,
    name: RELIABLE_IMPORTS_EVENTS.batchPaused,
    status: 'paused',
    reason: 'checking',
  },
  [RELIABLE_IMPORTS_EVENTS.batchResumed]: {
    ...base,
    name: RELIABLE_IMPORTS_EVENTS.batchResumed,
    status: 'pending',
    requeuedItems: 2,
  },
  [RELIABLE_IMPORTS_EVENTS.batchCancelled]: {
    ...base,
    name: RELIABLE_IMPORTS_EVENTS.batchCancelled,
    status: 'cancelled',
    reason: 'cancelled: wrong file',
    cancelledItems: 2,
  },
  [RELIABLE_IMPORTS_EVENTS.batchApproved]: {
    ...base,
    name: RELIABLE_IMPORTS_EVENTS.batchApproved,
    status: 'pending',
  },
  [RELIABLE_IMPORTS_EVENTS.batchRejected]: {
    ...base,
    name: RELIABLE_IMPORTS_EVENTS.batchRejected,
    status: 'rejected',
    reason: 'duplicate upload',
  },
  [RELIABLE_IMPORTS_EVENTS.batchCompleted]: {
    ...base,
    ...counts,
    name: RELIABLE_IMPORTS_EVENTS.batchCompleted,
    status: 'completed_with_errors',
  },
  [RELIABLE_IMPORTS_EVENTS.batchFailed]: {
    ...base,
    ...counts,
    name: RELIABLE_IMPORTS_EVENTS.batchFailed,
    status: 'failed',
    reason: 'stopped by a failed row',
  },
  [RELIABLE_IMPORTS_EVENTS.rowFailed]: {
    ...base,
    name: RELIABLE_IMPORTS_EVENTS.rowFailed,
    status: 'processing',
    itemId: '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9',
    itemIndex: 1,
    sourceLine: 3,
    errorMessage: 'invalid email',
    errorCode: 'VALIDATION_FAILED',
    attempts: 1,
  },
};

describe('an event as the admin event stream sends it', () => {
  it.each(Object.values(EVENTS).map((event) => [event.name, event] as const))(
    '%s: every field of its interface, and nothing else',
    (_name, event: ReliableImportsEvent) => {
      expect(eventWithoutExtras(event)).toEqual(event);
      // As an event heard on the channel may come: with what no instance of the module sends.
      const heard = {
        ...event,
        stack: 'Error: x\n    at run (/srv/app/dist/main.js:1:1)',
        query: 'SELECT 1',
      };
      expect(eventWithoutExtras(heard)).toEqual(event);
    },
  );
});
