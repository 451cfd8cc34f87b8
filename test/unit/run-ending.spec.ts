import {
  decideEnding,
  type RunEnding,
  type RunFacts,
  type ThrownKind,
} from '../../lib/processing/run-ending';

/** A run whose lanes are done, with nothing out of the ordinary: the facts each row changes. */
const LANES_DONE: RunFacts = {
  refused: false,
  stopCause: null,
  failureDecided: false,
  endAttempt: 'not-tried',
  thrown: null,
};

const thrown = (kind: ThrownKind, inLanes = false): RunFacts['thrown'] => ({ kind, inLanes });

/** Every way a run ends, and the steps between; each row names the situation it stands for. */
const TABLE: Array<[situation: string, facts: Partial<RunFacts>, ending: RunEnding]> = [
  ['lanes done, nothing happened: try to end the batch', {}, 'try-to-end'],
  [
    'a failed item stopped the batch: try to end it (failed)',
    { failureDecided: true },
    'try-to-end',
  ],
  ['validateBatch refused the batch', { refused: true }, 'refused'],
  ['this run ended the batch', { endAttempt: 'ended' }, 'finished'],
  [
    'this run ended the batch it stopped',
    { endAttempt: 'ended', failureDecided: true },
    'finished',
  ],
  [
    'another run ended the batch, or holds items and will',
    { endAttempt: 'not-ended' },
    'left-to-others',
  ],
  [
    'a helper ended the batch while this run worked',
    { stopCause: 'ended-elsewhere' },
    'left-to-others',
  ],
  ['shutdown during the lanes', { stopCause: 'shutdown' }, 'stopped'],
  [
    'shutdown while waiting for the other runs',
    { stopCause: 'shutdown', endAttempt: 'interrupted' },
    'stopped',
  ],
  [
    'shutdown after a failed item stopped the batch: the stop is still carried out',
    { stopCause: 'shutdown', failureDecided: true },
    'try-to-end',
  ],
  ['the batch was taken over (lease lost)', { stopCause: 'lease-lost' }, 'lease-lost'],
  [
    'the batch was taken over while waiting for the other runs',
    { stopCause: 'lease-lost', endAttempt: 'interrupted' },
    'lease-lost',
  ],
  [
    'a helper ended the batch while this run waited for it',
    { stopCause: 'ended-elsewhere', endAttempt: 'interrupted' },
    'left-to-others',
  ],
  ['LeaseLostError thrown', { thrown: thrown('lease-lost') }, 'lease-lost'],
  ['ProcessingStoppedError thrown', { thrown: thrown('stopped') }, 'stopped'],
  [
    'the database failed in a way that passes, outside the lanes',
    { thrown: thrown('database-passing') },
    'given-back',
  ],
  ['the database failed in a lane', { thrown: thrown('database-passing', true) }, 'given-back'],
  [
    'the database failed in a lane after a failed item stopped the batch: end it failed',
    { thrown: thrown('database-passing', true), failureDecided: true },
    'try-to-end',
  ],
  [
    'the database failed in a lane after a failed item stopped the batch, and this run then ended it',
    { thrown: thrown('database-passing', true), failureDecided: true, endAttempt: 'ended' },
    'finished',
  ],
  [
    'the database failed again while ending the stopped batch',
    { thrown: thrown('database-passing'), failureDecided: true, endAttempt: 'not-tried' },
    'given-back',
  ],
  ['a hook threw (onBatchStart)', { thrown: thrown('hook') }, 'abandoned'],
  ['onItemError threw in a lane', { thrown: thrown('hook', true) }, 'abandoned'],
  [
    'onItemError threw after a failed item stopped the batch',
    { thrown: thrown('hook', true), failureDecided: true },
    'abandoned',
  ],
  ['the database failed for good', { thrown: thrown('other') }, 'abandoned'],
  [
    'a database error that does not pass, in a lane after a stop was decided',
    { thrown: thrown('other', true), failureDecided: true },
    'abandoned',
  ],
  [
    'an error wins over a stop cause',
    { thrown: thrown('hook'), stopCause: 'shutdown' },
    'abandoned',
  ],
];

describe('decideEnding: how a run ends (no database)', () => {
  it.each(TABLE)('%s', (_situation, facts, ending) => {
    expect(decideEnding({ ...LANES_DONE, ...facts })).toBe(ending);
  });

  it('the table reaches every ending', () => {
    const reached = new Set(TABLE.map(([, , ending]) => ending));
    const every: RunEnding[] = [
      'try-to-end',
      'refused',
      'finished',
      'left-to-others',
      'stopped',
      'lease-lost',
      'given-back',
      'abandoned',
    ];
    expect([...reached].sort()).toEqual([...every].sort());
  });

  it('never asks to try again once the end was attempted, whatever else holds', () => {
    // Otherwise a run could loop on its end for ever.
    const kinds: Array<ThrownKind | null> = [
      null,
      'hook',
      'database-passing',
      'lease-lost',
      'stopped',
      'other',
    ];
    for (const endAttempt of ['ended', 'not-ended', 'interrupted'] as const) {
      for (const kind of kinds) {
        for (const stopCause of [null, 'shutdown', 'lease-lost', 'ended-elsewhere'] as const) {
          for (const failureDecided of [false, true]) {
            for (const inLanes of [false, true]) {
              const facts: RunFacts = {
                ...LANES_DONE,
                endAttempt,
                stopCause: endAttempt === 'interrupted' ? (stopCause ?? 'shutdown') : stopCause,
                failureDecided,
                thrown: kind === null ? null : { kind, inLanes },
              };
              expect([facts, decideEnding(facts)]).not.toEqual([facts, 'try-to-end']);
            }
          }
        }
      }
    }
  });
});
