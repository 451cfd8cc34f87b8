import { createServer } from 'node:net';
import { BaseProcessor, ImportProcessor } from '../../lib';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { countResources, expectNoLeaks, findLeaks } from '../support/leak-guard';
import { useTestDatabase } from '../support/use-test-app';

@ImportProcessor()
class NoteProcessor extends BaseProcessor<object> {
  processItem(): void {}
}

describe('the leak guard of the test files', () => {
  // No app of the file's own: whatever the guard sees on the database is the test's.
  const file = useTestDatabase();

  it('reports a timer, a server, an app left running and a connection, and nothing once they are closed', async () => {
    const baseline = countResources();
    const timer = setInterval(() => {}, 60_000);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    let app: TestApp | undefined;
    try {
      expect(await findLeaks({ database: file.db.name, baseline, settleMs: 0 })).toEqual([
        '1 more Timeout alive than before the file started.',
        '1 more TCPServerWrap alive than before the file started.',
      ]);

      app = await createTestApp(file.db.url, [NoteProcessor]);
      const target = { database: file.db.name, dataSources: [app.dataSource], baseline };
      const leaks = await findLeaks({ ...target, settleMs: 0 });
      expect(leaks).toEqual(
        expect.arrayContaining([
          'DataSource #1 is still initialized: its app was not closed.',
          expect.stringMatching(
            new RegExp(`^A connection to ${file.db.name} is still open: pid \\d+`),
          ),
          expect.stringMatching(/^\d+ more Timeout alive than before the file started\.$/),
          expect.stringMatching(/^\d+ more TCPSocketWrap alive than before the file started\.$/),
        ]),
      );
      await expect(expectNoLeaks({ ...target, settleMs: 0 })).rejects.toThrow(
        /left these open[\s\S]*DataSource #1/,
      );
    } finally {
      clearInterval(timer);
      await new Promise((resolve) => server.close(resolve));
      await app?.close();
    }
    expect(
      await findLeaks({ database: file.db.name, dataSources: [app.dataSource], baseline }),
    ).toEqual([]);
  });

  it('reports a client that was not ended', async () => {
    const baseline = countResources();
    const client = await file.connect();
    const target = { database: file.db.name, baseline };
    try {
      expect(await findLeaks({ ...target, settleMs: 0 })).toEqual([
        expect.stringMatching(
          new RegExp(`^A connection to ${file.db.name} is still open: pid \\d+`),
        ),
        '1 more TCPSocketWrap alive than before the file started.',
      ]);
    } finally {
      await client.end();
    }
    expect(await findLeaks(target)).toEqual([]);
  });
});
