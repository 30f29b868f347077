// `kdefer init DIR` (issue 13), a kdefer-only behaviour: a new driver
// project, and its bad input. The project's own `npm install && npm test`
// from the packed tarballs is test/pack.test.ts.
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runKdefer, type Ran } from './helpers.js';

const kdefer = (...args: string[]): Promise<Ran> => runKdefer(args, 40_000);

const dir = mkdtempSync(join(tmpdir(), 'kdefer-init-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kdefer-only (usermod), kdefer init', () => {
  it('writes the project: package.json depending on kdefer and vitest, the driver, its test, a README; the driver runs clean', async () => {
    const proj = join(dir, 'sensor-drv');
    const r = await kdefer('init', proj);
    expect(r.code, r.stderr).toBe(0);
    for (const f of [
      'package.json',
      'src/driver.ts',
      'test/driver.test.ts',
      'README.md',
      '.gitignore',
      'vitest.config.ts',
      'tsconfig.json',
    ])
      expect(existsSync(join(proj, f)), f).toBe(true);
    const pkg = JSON.parse(readFileSync(join(proj, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({ name: 'sensor-drv', type: 'module', scripts: { test: 'vitest run' } });
    expect(Object.keys(pkg.devDependencies).sort()).toEqual(['@kdefer/cli', '@kdefer/core', '@kdefer/test', 'vitest']);
    expect(pkg.devDependencies['@kdefer/core']).toBe('^0.1.0');
    expect(readFileSync(join(proj, 'README.md'), 'utf8')).toMatch(/^# sensor-drv\n/);
    // the sample driver: IRQ handler, tasklet, timer, work, teardown — run as `npm start` runs it
    const run = await kdefer('run', join(proj, 'src/driver.ts'), ...pkg.scripts.start.split(' ').slice(3));
    expect(run.stdout).toMatch(/remove@0 +returned +-> \{"samples":\d+,"sum":\d+,"reports":\d+\}/);
    expect(run.stdout).toMatch(/TASKLET: +\d+/);
    expect(run.stdout).toMatch(/verdict: PASS/);
    expect(run.code).toBe(0);
  });

  it('bad input: a directory that is not empty, a file, a name npm refuses, --tarballs without the tarballs (exit 2, nothing written)', async () => {
    const full = join(dir, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'keep.txt'), 'mine');
    const a = await kdefer('init', full);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/full: exists and is not empty/);
    expect(existsSync(join(full, 'package.json'))).toBe(false);

    const b = await kdefer('init', join(full, 'keep.txt'));
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/keep\.txt: exists and is not a directory/);

    const c = await kdefer('init', join(dir, 'My Driver'));
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/'my driver' is not an npm package name .*--name/);
    expect(existsSync(join(dir, 'My Driver'))).toBe(false);

    const d = await kdefer('init', join(dir, 'x1'), '--tarballs', join(dir, 'nowhere'));
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/--tarballs .*nowhere: no such directory/);

    const e = await kdefer('init', join(dir, 'x2'), '--tarballs', full);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/no kdefer-core-VERSION\.tgz in it/);
    expect(existsSync(join(dir, 'x2'))).toBe(false);

    const f = await kdefer('init');
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/missing required argument 'dir'/);
  });
});
