import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { runCli, type CliRun } from '../support/built-cli';
import { useTestDatabase } from '../support/use-test-app';

const ROOT = join(__dirname, '..', '..');
// Absolute: the commands run in the test's own directory, where fix.csv is, as a user's would.
const USER_MODULE = `${join(ROOT, 'test', 'fixtures', 'cli', 'cli-imports.module.ts')}#CliImportsModule`;

// A few runs of the tool, each a Node process of its own, one of them a 500-row import.
jest.setTimeout(180_000);

/** A 500-row contacts file: 28 rows to fix, 26 of them with a bad e-mail and 2 that are not valid CSV. */
const ROWS = 500;
const BAD = new Set(Array.from({ length: 28 }, (_, k) => 5 + 18 * k));
/** Rows (0-based) of the two malformed lines: a name with an unquoted comma, and a row cut short. */
const RAGGED = 23;
const CUT_SHORT = 239;
/** Rows whose name a spreadsheet would run as a formula, and one quoted for its comma. */
const DASH = 41;
const FORMULA = 77;
const COMMA = 59;

const lineOf = (row: number) => row + 2;
const rowOf = (line: number) => line - 2;
const goodEmail = (row: number) => `contact${row}@example.com`;
const nameOf = (row: number) =>
  row === DASH ? '-Dash' : row === FORMULA ? '=1+1' : row === COMMA ? 'Smith, Ann' : `Name ${row}`;

function contactsCsv(): string {
  const lines = ['email,name'];
  for (let row = 0; row < ROWS; row++) {
    if (row === RAGGED) lines.push(`${goodEmail(row)},Ann,Smith`);
    else if (row === CUT_SHORT) lines.push(`${goodEmail(row)}`);
    else {
      const email = BAD.has(row) ? `contact${row}-at-example.com` : goodEmail(row);
      lines.push(stringify([[email, nameOf(row)]]).trimEnd());
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The name each row has once it is in: a malformed line's name is what the user typed. */
const finalName = (row: number) =>
  row === RAGGED ? 'Ann, Smith' : row === CUT_SHORT ? 'Cut Short' : nameOf(row);

describe('recovering a failed import with the built CLI: failures out as a file, the fixed file back in one reprocess', () => {
  const database = useTestDatabase();
  let dir: string;
  let sql: Client;
  let batchId: string;
  let printed: string[][];

  /** Runs the built binary in the test's directory (`args[0]` may be `reliable-imports`, as printed). */
  function run(args: string[]): CliRun {
    const argv = args[0] === 'reliable-imports' ? args.slice(1) : args;
    return runCli(argv, { cwd: dir, env: { DATABASE_URL: database.db.url }, timeoutMs: 120_000 });
  }

  /** Runs a command that loads the user's module, as the commands the tool prints do. */
  const runWithModule = (...args: string[]): CliRun => run(['--module', USER_MODULE, ...args]);

  const json = <T>(result: CliRun): T => JSON.parse(result.stdout) as T;

  const count = async (query: string, values: unknown[] = []) =>
    Number((await sql.query<{ n: string }>(query, values)).rows[0].n);

  /** A fixes file as a spreadsheet saves it: the header, then the rows, every cell text. */
  const readSheet = (file: string) => parse(readFileSync(join(dir, file), 'utf8'));
  const writeSheet = (file: string, sheet: string[][]) =>
    writeFileSync(join(dir, file), stringify(sheet));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'reliable-imports-recovery-'));
    sql = await database.connect();
    writeFileSync(join(dir, 'contacts.csv'), contactsCsv());
  });

  it('imports 500 rows: 28 fail with their lines, 2 of them lines that are not valid CSV; the recovery is printed', async () => {
    const imported = runWithModule('import', 'contact', 'contacts.csv');
    expect(imported.stderr).toBe('');
    expect(imported.status).toBe(1);
    batchId = /^batch\s+([0-9a-f-]{36})$/m.exec(imported.stdout)?.[1] as string;
    expect(imported.stdout).toMatch(/total\s+500\ncompleted\s+472\nfailed\s+28\n/);
    expect(await count('SELECT count(*) AS n FROM contacts')).toBe(472);

    // The recovery, as the import prints it: export, fix, reprocess with the file.
    const recovery = imported.stdout.slice(imported.stdout.indexOf('28 row(s) need a fix.'));
    expect(recovery).toBe(
      '28 row(s) need a fix. Export them, fix them in a spreadsheet, and reprocess with the file:\n' +
        `  reliable-imports --module ${USER_MODULE} failures ${batchId} --format csv -o fix.csv\n` +
        `  reliable-imports --module ${USER_MODULE} reprocess ${batchId} --corrections fix.csv\n`,
    );
    printed = recovery
      .split('\n')
      .filter((line) => line.startsWith('  reliable-imports '))
      .map((line) => line.trim().split(' '));

    const failures = json<Array<{ line: number; errorCode: string; rawLine: string | null }>>(
      run(['--json', 'failures', batchId]),
    );
    expect(failures.map((failure) => failure.line)).toEqual([...BAD].map(lineOf));
    expect(
      failures.filter((failure) => failure.errorCode === 'MALFORMED_LINE').map((f) => f.line),
    ).toEqual([lineOf(RAGGED), lineOf(CUT_SHORT)]);

    const check = run(['check', batchId]);
    expect(check).toMatchObject({
      status: 1,
      stdout: `28 of 500 rows of ${batchId} are not in: 28 unresolved, 0 not processed.\n`,
    });
  });

  it('writes the 28 rows to fix.csv: lines, reasons and the data cells in the order of the file', () => {
    const [exportCommand] = printed;
    const exported = run(exportCommand);
    expect(exported.status).toBe(0);
    expect(exported.stdout).toBe('');
    expect(exported.stderr).toBe(
      `Wrote 28 row(s) to fix.csv. Fix the data cells (keep the _item_id column), then run "reliable-imports --module ${USER_MODULE} reprocess ${batchId} --corrections fix.csv".\n`,
    );
    const [header, ...rows] = readSheet('fix.csv');
    expect(header).toEqual(['_item_id', '_line', '_status', '_reason', 'email', 'name']);
    expect(rows.map((row) => Number(row[1]))).toEqual([...BAD].map(lineOf));
    const byRow = new Map(rows.map((row) => [rowOf(Number(row[1])), row]));
    expect(byRow.get(5)?.slice(2)).toEqual([
      'failed',
      'email is malformed',
      'contact5-at-example.com',
      'Name 5',
    ]);
    // A line that is not valid CSV: what could be read of it, and its text in the reason.
    expect(byRow.get(RAGGED)?.slice(3)).toEqual([
      expect.stringMatching(
        new RegExp(`3 fields where the header has 2.*${goodEmail(RAGGED)},Ann,Smith$`),
      ),
      goodEmail(RAGGED),
      'Ann',
    ]);
    expect(byRow.get(CUT_SHORT)?.slice(4)).toEqual([goodEmail(CUT_SHORT), '']);
    // Cells a spreadsheet would run as formulas are written with a leading quote.
    expect(byRow.get(DASH)?.[5]).toBe("'-Dash");
    expect(byRow.get(FORMULA)?.[5]).toBe("'=1+1");
    expect(byRow.get(COMMA)?.[5]).toBe('Smith, Ann');
  });

  it('refuses a fixes file with one bad reference as a whole, naming its line: nothing is applied', async () => {
    const sheet = readSheet('fix.csv');
    const fixed = fixCells(sheet);
    // The 13th row of the file (its line 14) names a row that does not exist.
    fixed[13][0] = '6f1d3c1e-0000-4000-8000-000000000000';
    writeSheet('one-bad.csv', fixed);

    const refused = runWithModule('reprocess', batchId, '--corrections', 'one-bad.csv');
    expect(refused.status).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toBe(
      `error: The corrections for batch "${batchId}" were refused, and none was applied: 1 problem(s): ` +
        `line 14: no row of batch "${batchId}" or of its reprocesses has the item id ` +
        '"6f1d3c1e-0000-4000-8000-000000000000". Fix these lines and give the corrections again.\n',
    );
    const asJson = run(['--json', 'correct', batchId, '--file', 'one-bad.csv']);
    expect(asJson.status).toBe(2);
    expect(json(asJson)).toEqual({
      error: { code: 'CORRECTIONS_REFUSED', message: expect.stringContaining('line 14: ') },
    });

    expect(
      await count('SELECT count(*) AS n FROM import_batch_items WHERE corrected_data IS NOT NULL'),
    ).toBe(0);
    expect(await count('SELECT count(*) AS n FROM import_batches')).toBe(1);
    expect(await count('SELECT count(*) AS n FROM contacts')).toBe(472);
  });

  it('takes the fixed file back in one reprocess: show reports 500 of 500 in, 0 unresolved, and check exits 0', async () => {
    writeSheet('fix.csv', fixCells(readSheet('fix.csv')));
    const [, reprocessCommand] = printed;
    const reprocessed = run(reprocessCommand);
    expect(reprocessed.stderr).toBe('');
    expect(reprocessed.status).toBe(0);
    expect(reprocessed.stdout).toMatch(/total\s+28\ncompleted\s+28\nfailed\s+0\n/);
    expect(reprocessed.stdout).toMatch(new RegExp(`reprocess of\\s+${batchId}\\n`));
    expect(reprocessed.stdout).not.toContain('need a fix');

    const shown = run(['show', batchId]);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toContain(
      'rows           500 of 500 in (472 the first time, 28 by reprocesses)\n' +
        'unresolved     0\n' +
        'not processed  0\n',
    );
    expect(shown.stdout).toMatch(
      new RegExp(
        `tree of ${batchId}\\n${batchId}  completed_with_errors  500 rows: 472 completed, 28 failed, 0 skipped\\n` +
          `  └ [0-9a-f-]{36}  completed  28 rows: 28 completed, 0 failed, 0 skipped\\n$`,
      ),
    );
    expect(json(run(['--json', 'show', batchId]))).toMatchObject({
      batchId,
      lineage: { totalRows: 500, completedFirstTime: 472, resolved: 28, unresolved: 0 },
    });
    expect(run(['check', batchId])).toMatchObject({
      status: 0,
      stdout: `All 500 rows of ${batchId} are in.\n`,
    });

    // Every row is in as the user fixed it: the formula-like names without the quote, the comma kept.
    const { rows } = await sql.query<{ email: string; name: string | null }>(
      'SELECT email, name FROM contacts',
    );
    expect(new Map(rows.map((row) => [row.email, row.name]))).toEqual(
      new Map(Array.from({ length: ROWS }, (_, row) => [goodEmail(row), finalName(row)])),
    );
  });

  it('lists the 28 with the reprocess that resolved them under failures --all, and the parent in list', () => {
    expect(run(['failures', batchId]).stdout).toBe(
      `Rows to fix in ${batchId} and its reprocesses (0 unresolved):\n(none)\n`,
    );
    const all = run(['--json', 'failures', batchId, '--all']);
    expect(all.status).toBe(0);
    const resolved = json<Array<{ line: number; resolvedBy: string; corrected: boolean }>>(all);
    expect(resolved).toHaveLength(28);
    const [child] = new Set(resolved.map((row) => row.resolvedBy));
    expect(resolved).toEqual(
      [...BAD].map((row): unknown =>
        expect.objectContaining({ line: lineOf(row), corrected: true, resolvedBy: child }),
      ),
    );
    const table = run(['failures', batchId, '--all']).stdout;
    expect(table).toMatch(/^line\s+item\s+status\s+reason\s+corrected\s+resolved by\s+data$/m);
    expect(table).toMatch(
      new RegExp(`^7\\s+\\S+\\s+failed\\s+email is malformed\\s+true\\s+${child}`, 'm'),
    );

    const listed = run(['list']);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(/^id\s+batchType\s+status\s+.*parentBatchId\s+createdAt$/m);
    expect(listed.stdout).toMatch(
      new RegExp(`^${child}\\s+contact\\s+completed\\s+.*${batchId}`, 'm'),
    );
  });

  it('names the first batch in the commands it prints after a reprocess, so that they recover every row of the tree', async () => {
    writeFileSync(
      join(dir, 'again.csv'),
      'email,name\nagain1@example.com,A\nagain2-at-example.com,B\nagain3-at-example.com,C\nagain4@example.com,D,extra\n',
    );
    const imported = runWithModule('--json', 'import', 'contact', 'again.csv');
    expect(imported.status).toBe(1);
    const root = json<{ batchId: string }>(imported).batchId;

    // Reprocessed without fixes: the two bad e-mails fail again in a child; the line that could not be
    // read stays in the first batch, as it is not processed until it is corrected.
    const again = runWithModule('reprocess', root);
    expect(again.status).toBe(1);
    const child = /^batch\s+([0-9a-f-]{36})$/m.exec(again.stdout)?.[1] as string;
    expect(child).not.toBe(root);
    expect(again.stdout).toContain(
      '3 row(s) need a fix. Export them, fix them in a spreadsheet, and reprocess with the file:\n' +
        `  reliable-imports --module ${USER_MODULE} failures ${root} --format csv -o fix.csv\n` +
        `  reliable-imports --module ${USER_MODULE} reprocess ${root} --corrections fix.csv\n`,
    );

    // Exported from the child's id, the file holds the tree's rows, and the hint names the first batch.
    const exported = runWithModule('failures', child, '--format', 'csv', '-o', 'fix-again.csv');
    expect(exported.status).toBe(0);
    expect(exported.stderr).toContain(`reprocess ${root} --corrections fix-again.csv"`);
    const sheet = readSheet('fix-again.csv');
    expect(sheet.slice(1).map((row) => row[1])).toEqual(['3', '4', '5']);
    const email = sheet[0].indexOf('email');
    const name = sheet[0].indexOf('name');
    // Line 5 could not be read: its cells must be looked at and changed, or it stays unresolved (given
    // back untouched, what was read of it would be imported cut short).
    writeSheet('fix-again.csv', [
      sheet[0],
      ...sheet
        .slice(1)
        .map((row) =>
          row.map((cell, i) =>
            i === email
              ? `again${Number(row[1]) - 1}@example.com`
              : i === name && row[1] === '5'
                ? 'Dora'
                : cell,
          ),
        ),
    ]);
    const fixed = runWithModule('reprocess', root, '--corrections', 'fix-again.csv');
    expect(fixed.status).toBe(0);
    expect(fixed.stdout).toMatch(/rows\s+4 of 4 in \(1 the first time, 3 by reprocesses\)/);
    expect(run(['check', root]).status).toBe(0);
    expect(
      await count("SELECT count(*) AS n FROM contacts WHERE email LIKE 'again_@example.com'"),
    ).toBe(4);
  });

  it('corrects one field with --set and the rest through an edited JSONL export, merged', async () => {
    writeFileSync(
      join(dir, 'small.jsonl'),
      [
        '{"email":"s1@example.com","name":"One","city":"Oslo"}',
        '{"email":"s2-at-example.com","name":"Two","city":"Rome"}',
        '{"email":"s3@example.com","name":"Three"',
        '{"email":"s4-at-example.com","name":"Four","city":"Lima","id":12345678901234567891}',
      ].join('\n'),
    );
    const imported = runWithModule('--json', 'import', 'contact', 'small.jsonl');
    expect(imported.status).toBe(1);
    const small = json<{ batchId: string }>(imported).batchId;
    const [two, three, four] = json<Array<{ itemId: string; line: number }>>(
      run(['--json', 'failures', small]),
    );
    expect([two.line, three.line, four.line]).toEqual([2, 3, 4]);

    // One field of one row: the others are kept.
    const set = runWithModule('correct', two.itemId, '--set', 'email=s2@example.com');
    expect(set).toMatchObject({ status: 0, stderr: '' });
    expect(set.stdout).toBe(
      `Corrected line 2 of batch ${small}; run "reliable-imports --module ${USER_MODULE} reprocess ${small}" to apply it.\n`,
    );
    const stored = await sql.query<{ corrected_data: unknown }>(
      'SELECT corrected_data FROM import_batch_items WHERE id = $1',
      [two.itemId],
    );
    expect(stored.rows[0].corrected_data).toEqual({
      email: 's2@example.com',
      name: 'Two',
      city: 'Rome',
    });

    // The export holds the rows still unresolved (the corrected one too, with its correction).
    expect(run(['failures', small, '--format', 'jsonl', '-o', 'fix.jsonl']).status).toBe(0);
    const exported = readFileSync(join(dir, 'fix.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { itemId: string; line: number; data: object });
    expect(exported).toEqual([
      expect.objectContaining({
        itemId: two.itemId,
        line: 2,
        data: { email: 's2@example.com', name: 'Two', city: 'Rome' },
      }),
      expect.objectContaining({ itemId: three.itemId, line: 3, errorCode: 'MALFORMED_LINE' }),
      expect.objectContaining({ itemId: four.itemId, line: 4 }),
    ]);
    // Edited in an editor: only the fields to change, merged into each row; numbers keep their digits.
    writeFileSync(
      join(dir, 'fix.jsonl'),
      [
        `{"itemId":"${three.itemId}","data":{"email":"s3@example.com","name":"Three"}}`,
        `{"line":4,"data":{"email":"s4@example.com"}}`,
      ].join('\n'),
    );
    const reprocessed = runWithModule(
      '--json',
      'reprocess',
      small,
      '--corrections',
      'fix.jsonl',
      '--merge',
    );
    expect(reprocessed.stderr).toBe('');
    expect(reprocessed.status).toBe(0);
    expect(json(reprocessed)).toMatchObject({
      totalItems: 3,
      completedItems: 3,
      lineage: { totalRows: 4, completedFirstTime: 1, resolved: 3, unresolved: 0 },
    });
    const copy = await sql.query<{ source_data: Record<string, unknown>; big: string }>(
      `SELECT i.source_data, i.source_data->>'id' AS big FROM import_batch_items i
         JOIN import_batches b ON b.id = i.batch_id
        WHERE b.parent_batch_id = $1 AND i.source_data->>'email' = 's4@example.com'`,
      [small],
    );
    expect(copy.rows[0].source_data).toMatchObject({ name: 'Four', city: 'Lima' });
    expect(copy.rows[0].big).toBe('12345678901234567891');
    expect(run(['check', small]).status).toBe(0);
  });

  it('reads a fixes file a spreadsheet saved with ";" when told so, and says what to do when not told', async () => {
    writeFileSync(
      join(dir, 'semi.csv'),
      'email,name\nsemi1@example.com,One\nsemi2-at-example.com,Two\n',
    );
    const imported = runWithModule('--json', 'import', 'contact', 'semi.csv');
    expect(imported.status).toBe(1);
    const semi = json<{ batchId: string }>(imported).batchId;
    expect(run(['failures', semi, '--format', 'csv', '-o', 'semi-fix.csv']).status).toBe(0);
    const [header, ...rows] = readSheet('semi-fix.csv');
    rows[0][header.indexOf('email')] = 'semi2@example.com';
    // European spreadsheets save CSV with ";" between cells.
    writeFileSync(join(dir, 'semi-fix.csv'), stringify([header, ...rows], { delimiter: ';' }));
    const untold = runWithModule('reprocess', semi, '--corrections', 'semi-fix.csv');
    expect(untold.status).toBe(2);
    expect(untold.stderr).toContain("--delimiter ';'");
    expect(
      await count('SELECT count(*) AS n FROM import_batches WHERE parent_batch_id = $1', [semi]),
    ).toBe(0);

    const told = runWithModule(
      'reprocess',
      semi,
      '--corrections',
      'semi-fix.csv',
      '--delimiter',
      ';',
    );
    expect(told.status).toBe(0);
    expect(run(['check', semi]).status).toBe(0);
  });
});

/**
 * What a user does in a spreadsheet: for each row, types the right e-mail over the wrong one, and for the
 * two lines that were not valid CSV the name too. Only data cells change; the meta columns stay.
 */
function fixCells(sheet: string[][]): string[][] {
  const [header, ...rows] = sheet;
  const email = header.indexOf('email');
  const name = header.indexOf('name');
  const line = header.indexOf('_line');
  return [
    header,
    ...rows.map((cells) => {
      const row = rowOf(Number(cells[line]));
      const fixed = [...cells];
      fixed[email] = goodEmail(row);
      if (row === RAGGED) fixed[name] = 'Ann, Smith';
      if (row === CUT_SHORT) fixed[name] = 'Cut Short';
      return fixed;
    }),
  ];
}
