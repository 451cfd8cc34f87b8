/** The part of `pg` that a cancel request needs: its protocol connection. */
export interface PgProtocol {
  Connection: new (config?: { keepAlive?: boolean }) => CancelConnection;
}

interface CancelConnection {
  stream: { destroy(): void };
  connect(portOrSocket: number | string, host?: string): void;
  cancel(processID: number, secretKey: number): void;
  once(event: 'connect' | 'end', listener: () => void): void;
  once(event: 'error', listener: (error: Error) => void): void;
}

/** Where a `pg` client is connected, and the key that its server (or pooler) gave it for cancelling. */
export interface CancelTarget {
  host: string;
  port: number;
  processID: number;
  secretKey: number;
}

/**
 * Asks for the cancel of the statement a connection runs, as psql's Ctrl-C does: a CancelRequest with the
 * connection's key, on a connection of its own, outside the pool. A pooler in transaction mode (PgBouncer)
 * gives its clients keys of its own and forwards the request to the server connection the client holds,
 * which `pg_cancel_backend(pid)` cannot reach: the pid a client sees there is made up. Resolves with whether
 * the request was sent (whether it cancelled something, the server does not say), within `timeoutMs`.
 */
export function sendCancelRequest(
  pg: PgProtocol,
  target: CancelTarget,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const connection = new pg.Connection({ keepAlive: false });
    let sent = false;
    const done = (): void => {
      clearTimeout(timer);
      connection.stream.destroy();
      resolve(sent);
    };
    const timer = setTimeout(done, timeoutMs);
    connection.once('connect', () => {
      connection.cancel(target.processID, target.secretKey);
      sent = true;
    });
    // The server closes the connection once it has read the request.
    connection.once('end', done);
    connection.once('error', done);
    // A host that is a directory is a Unix socket, named as libpq names it.
    if (target.host.startsWith('/')) {
      connection.connect(`${target.host}/.s.PGSQL.${target.port}`);
    } else {
      connection.connect(target.port, target.host);
    }
  });
}
