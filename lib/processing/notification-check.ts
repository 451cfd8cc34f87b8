import { randomBytes } from 'node:crypto';

/** How long a notification is waited for before the check concludes that none arrives. */
export const NOTIFICATION_CHECK_MS = 2000;

/** A channel of the check's own: no other instance sends on it, so a LISTEN left behind hears nothing. */
export function checkChannel(): { channel: string; payload: string } {
  const token = randomBytes(8).toString('hex');
  return { channel: `reliable_imports_check_${token}`, payload: token };
}

/**
 * Resolves with whether `arrived` was called within `waitMs` of `send` having resolved: whether a
 * notification sent through the pool reaches the connection that listens. Behind a pooler in transaction
 * mode it does not: the LISTEN ran on whichever server connection the pooler lent for that statement, and
 * that connection went back to the pool, away from the client that asked.
 */
export function notificationArrives(
  send: () => Promise<unknown>,
  listenFor: (arrived: () => void) => () => void,
  waitMs: number = NOTIFICATION_CHECK_MS,
): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const stop = listenFor(() => finish(true));
    function finish(arrived: boolean): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stop();
      resolve(arrived);
    }
    send().then(
      () => {
        // It may have arrived before the sender's answer did.
        if (!settled) timer = setTimeout(() => finish(false), waitMs);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        stop();
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
