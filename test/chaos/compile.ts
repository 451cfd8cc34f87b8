import { transformFileSync } from '@swc/core';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');
/**
 * Inside node_modules, so that the compiled files resolve packages as the sources do. Suites that run side
 * by side (each on a cluster of its own) give each a directory of its own with CHAOS_BUILD.
 */
export const BUILD_DIR = join(
  ROOT,
  'node_modules',
  '.cache',
  process.env.CHAOS_BUILD ?? 'reliable-imports-chaos',
);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.spec.ts') && !name.endsWith('.d.ts')
      ? [path]
      : [];
  });
}

/**
 * Compiles the module and the suite's child once per suite run, so that each child process starts on
 * plain JavaScript (a child on @swc-node/register spends seconds compiling the same files again).
 * Returns the path of the compiled child.
 */
export function compileChild(): string {
  for (const file of ['lib', 'migrations', 'test/chaos'].flatMap((dir) =>
    sources(join(ROOT, dir)),
  )) {
    const { code } = transformFileSync(file, {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
      module: { type: 'commonjs' },
      sourceMaps: false,
    });
    const out = join(BUILD_DIR, relative(ROOT, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, code);
  }
  return join(BUILD_DIR, 'test', 'chaos', 'chaos-child.js');
}
