import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What `npm publish` would ship (RELEASE.md, step 5), read from `npm pack --dry-run` on the build that
 * `npm test` made first: every part an installed copy needs, and none of the sources, tests or tools.
 */
const ROOT = join(__dirname, '..', '..');

function packedFiles(): string[] {
  if (!existsSync(join(ROOT, 'dist', 'lib', 'index.js')))
    throw new Error('No build in dist/: run `npm run build` first (`npm test` does).');
  // --ignore-scripts: `prepack` would build again, and the build in dist/ is the one under test.
  const run = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`npm pack --dry-run failed: ${run.stderr}`);
  const [report] = JSON.parse(run.stdout) as Array<{ files: Array<{ path: string }> }>;
  return report.files.map((file) => file.path);
}

describe('the package', () => {
  let files: string[];
  beforeAll(() => {
    files = packedFiles();
  });

  it('holds the library with its types, the binary, every migration and the admin page', () => {
    const migrations = readdirSync(join(ROOT, 'migrations'))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => file.replace(/\.ts$/, ''));
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'CHANGELOG.md',
        'LICENSE',
        'dist/lib/index.js',
        'dist/lib/index.d.ts',
        'dist/src/cli.js',
        'dist/admin-ui/index.html',
        'dist/admin-ui/admin.css',
        'dist/admin-ui/main.js',
        ...migrations.flatMap((name) => [
          `dist/migrations/${name}.js`,
          `dist/migrations/${name}.d.ts`,
        ]),
      ]),
    );
  });

  it('holds nothing else: no sources but declarations, tests, sample app, bench or docs', () => {
    const allowed =
      /^(package\.json|README\.md|CHANGELOG\.md|LICENSE|dist\/(lib|src|migrations|admin-ui)\/.+)$/;
    expect(files.filter((file) => !allowed.test(file))).toEqual([]);
    expect(files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);
  });
});
