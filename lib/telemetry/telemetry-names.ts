/**
 * The names of the module's spans, metrics and attributes: OpenTelemetry's semantic conventions for
 * messaging where they fit (a batch type is a destination, a row a message, a run a consumer), and the
 * `reliable_imports.` namespace for the rest. The README's table is this one.
 */
export const RELIABLE_IMPORTS_TELEMETRY = {
  /** The instrumentation scope: the tracer's and the meter's name. */
  scope: 'nestjs-reliable-imports',
  /** The value of `messaging.system.name`. */
  system: 'reliable_imports',
  operations: {
    /** A processing run of a batch: `run <batch type>`. */
    run: 'run',
    /** One attempt at one row: `process <batch type>`. */
    process: 'process',
    /** A claim of rows for a lane. */
    claim: 'claim',
  },
  metrics: {
    /** Counter: rows whose outcome a run recorded, by batch type and outcome (completed, failed, skipped). */
    rowsProcessed: 'reliable_imports.rows.processed',
    /** Counter: attempts that failed in a way that passes, and are tried again. */
    rowsRetried: 'reliable_imports.rows.retried',
    /** Histogram (s): one attempt at one row, from its start to its outcome. */
    processDuration: 'messaging.process.duration',
    /** Histogram (s): one claim of rows (its statements), `messaging.operation.name` = `claim`. */
    claimDuration: 'messaging.client.operation.duration',
    /** Counter: rows claimed. */
    rowsClaimed: 'messaging.client.consumed.messages',
    /** Counter: leases this process held that ran out before it was done (batch or row). */
    leaseExpirations: 'reliable_imports.lease.expirations',
    /** Counter: expired leases of other runs this process took over (batch or row). */
    takeovers: 'reliable_imports.lease.takeovers',
    /** Gauge: rows without an outcome in batches that may still run, by batch type (database-wide). */
    rowsWaiting: 'reliable_imports.rows.waiting',
  },
  attributes: {
    system: 'messaging.system.name',
    operationName: 'messaging.operation.name',
    operationType: 'messaging.operation.type',
    /** The batch type. */
    destination: 'messaging.destination.name',
    /** The row's id. */
    messageId: 'messaging.message.id',
    /** The run's worker id, as `locked_by` stores it. */
    clientId: 'messaging.client.id',
    /** Rows whose outcome the run recorded. */
    messageCount: 'messaging.batch.message_count',
    /** The error's code, else its name: on failed and retried attempts only. */
    errorType: 'error.type',
    batchId: 'reliable_imports.batch.id',
    /** On a reprocess's run: the batch it reprocesses. */
    parentBatchId: 'reliable_imports.batch.parent_id',
    rowIndex: 'reliable_imports.row.index',
    /** 1 for a row's first attempt in this run. */
    attempt: 'reliable_imports.row.attempt',
    /** See `ROW_OUTCOME`. */
    outcome: 'reliable_imports.row.outcome',
    /** The code stored with the failure (`error_details.code`), when it has one. */
    errorCode: 'reliable_imports.error.code',
    /** `owner` (took the batch) or `helper` (joined the run that holds it). */
    role: 'reliable_imports.run.role',
    /** The run took the batch over from a run whose lease had expired. */
    tookOver: 'reliable_imports.run.took_over',
    /** The worker id of the run that held the batch before (a takeover) or holds it (a helper). */
    holder: 'reliable_imports.run.holder',
    /** How the run ended, as `decideEnding` says. */
    ending: 'reliable_imports.run.ending',
    /** `batch` or `row`: what the lease was on. */
    leaseScope: 'reliable_imports.lease.scope',
  },
} as const;

/** What became of one attempt at a row (`reliable_imports.row.outcome`). */
export const ROW_OUTCOME = {
  completed: 'completed',
  failed: 'failed',
  skipped: 'skipped',
  /** Failed in a way that passes: tried again. */
  retried: 'retried',
  /** The claim was lost (the lease ran out and another run took the row): nothing recorded. */
  lost: 'lost',
  /** Given back, pending: the run stopped, or the database went away. */
  givenBack: 'given_back',
  /** Run in a chunk that rolled back: the row runs again on its own. */
  rolledBack: 'rolled_back',
} as const;

/** What became of one attempt at a row. */
export type RowOutcome = (typeof ROW_OUTCOME)[keyof typeof ROW_OUTCOME];
