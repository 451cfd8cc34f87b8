import { Client } from 'pg';

/** How `withClient` connects, for a server that may be stopped or killed under it. */
export interface WithClientOptions {
  /** Gives up connecting after this long; by default pg waits as long as the socket does. */
  connectTimeoutMs?: number;
  /**
   * The server may go away while the client is open: an error it reports on the idle client, and a failed
   * `end()`, are ignored rather than thrown.
   * @default false
   */
  serverMayGoAway?: boolean;
}

/** Runs `work` on a client of its own connected to `url`, and ends the client whatever `work` did. */
export async function withClient<T>(
  url: string,
  work: (client: Client) => Promise<T>,
  options: WithClientOptions = {},
): Promise<T> {
  const client = new Client({
    connectionString: url,
    connectionTimeoutMillis: options.connectTimeoutMs,
  });
  if (options.serverMayGoAway) client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    if (options.serverMayGoAway) await client.end().catch(() => undefined);
    else await client.end();
  }
}
