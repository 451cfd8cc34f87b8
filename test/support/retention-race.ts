import type { Client } from 'pg';
import type { BatchService, RetentionReport } from '../../lib';
import { waitFor } from './timing';

/**
 * Two instances apply retention at once: `holder` locks the progress counters, so that the first
 * instance's run stops in its slice holding the retention lock; the second applies retention meanwhile;
 * then the lock is let go. `observer` is another connection to the same database (through a pooler or
 * not), used to see the first run wait. Returns what each instance's applyRetention answered.
 */
export async function applyRetentionTwiceAtOnce(
  first: BatchService,
  second: BatchService,
  holder: Client,
  observer: Client,
): Promise<{ first: RetentionReport; second: RetentionReport }> {
  await holder.query('BEGIN');
  await holder.query('LOCK TABLE import_batch_progress IN ACCESS EXCLUSIVE MODE');
  const applying = first.applyRetention();
  await waitFor(
    async () =>
      (
        await observer.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        )
      ).rows[0].n === 1,
    { what: 'the first run waiting in its slice' },
  );
  const skipped = await second.applyRetention();
  await holder.query('COMMIT');
  return { first: await applying, second: skipped };
}
