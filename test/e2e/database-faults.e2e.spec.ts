import { Client } from 'pg';
import {
  loseConnectionOn,
  TERMINATED_MESSAGE,
  type FaultKind,
  type FaultTarget,
} from '../support/database-faults';
import { useTestDatabase } from '../support/use-test-app';

const RENAMES: FaultTarget = {
  table: 'notes',
  event: 'UPDATE',
  when: `EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE n.text <> o.text)`,
};

describe('database faults of the tests', () => {
  const file = useTestDatabase({ empty: true });
  let sql: Client;

  beforeAll(async () => {
    sql = await file.connect();
    await sql.query('CREATE TABLE notes (id integer PRIMARY KEY, text text NOT NULL)');
  });
  beforeEach(async () => {
    await sql.query(`TRUNCATE notes; INSERT INTO notes VALUES (1, 'first')`);
  });

  const rename = async (text: string) => {
    const client = new Client({ connectionString: file.db.url });
    client.on('error', () => {});
    await client.connect();
    try {
      await client.query('UPDATE notes SET text = $1 WHERE id = 1', [text]);
      return null;
    } catch (error) {
      return error as Error & { code?: string };
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  const text = async () =>
    (await sql.query<{ text: string }>('SELECT text FROM notes WHERE id = 1')).rows[0].text;

  it.each<[FaultKind]>([['terminate'], ['error']])(
    '%s: fails the nth matching statement as a lost connection, rolled back, and counts them',
    async (kind) => {
      const fault = await loseConnectionOn(file.db.url, RENAMES, 2, kind);
      try {
        expect(await rename('first')).toBeNull(); // no change of text: not counted
        expect(await rename('second')).toBeNull();
        expect(await rename('third')).toMatchObject({ code: '57P01', message: TERMINATED_MESSAGE });
        expect(await text()).toBe('second');
        expect(await rename('fourth')).toBeNull();
        expect(await fault.matched()).toBe(3);
      } finally {
        await fault.disarm();
      }
      expect(await rename('fifth')).toBeNull();
      expect(await text()).toBe('fifth');
    },
  );
});
