// Packaging (issue 13), a kdefer-only behaviour: the packages packed with
// `npm pack`, installed from the tarballs into a project OUTSIDE the
// workspace (no workspace links), as someone outside this repository uses
// kdefer: `kdefer init` writes the project, `npm ci --offline` installs it,
// then `kdefer run` on a user module and the project's own vitest test with
// @kdefer/test.
//
// Offline: npm cannot resolve version ranges without the registry, so the
// test writes the new project's package-lock.json from the workspace's (the
// same versions, by integrity; npm's cache holds their tarballs since the
// workspace was installed) with the four kdefer tarballs as file: entries.
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, lstatSync, readdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = join(root, 'packages/cli/bin/kdefer.js');
const PACKAGES = ['core', 'workers', 'cli', 'test'];

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}
function sh(cmd: string, args: string[], cwd: string, timeout = 60_000): Promise<Ran> {
  // npm_* variables of an enclosing `npm test` would point npm at the workspace
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout, env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

type LockEntry = Record<string, unknown> & {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  link?: boolean;
};

/**
 * The new project's lockfile: its packages' trees taken from the workspace's
 * lockfile (found the way node resolves, nearest node_modules first), the
 * kdefer packages as the tarballs.
 */
function writeLock(proj: string, tarballs: Record<string, string>): number {
  const ws = (JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  const pkg = JSON.parse(readFileSync(join(proj, 'package.json'), 'utf8')) as { name: string; version: string; devDependencies: object };
  const out: Record<string, LockEntry> = { '': { name: pkg.name, version: pkg.version, devDependencies: pkg.devDependencies } };
  const find = (from: string, name: string): string | null => {
    for (let base = from; ;) {
      const p = `${base ? `${base}/` : ''}node_modules/${name}`;
      if (ws[p] && !ws[p].link) return p;
      if (!base) return null;
      const i = base.lastIndexOf('/node_modules/');
      base = i < 0 ? '' : base.slice(0, i);
    }
  };
  const queue: string[] = [];
  const visit = (from: string, e: LockEntry): void => {
    const peers = Object.keys(e.peerDependencies ?? {}).filter((k) => !e.peerDependenciesMeta?.[k]?.optional);
    for (const n of [...Object.keys(e.dependencies ?? {}), ...Object.keys(e.optionalDependencies ?? {}), ...peers]) {
      if (n.startsWith('@kdefer/')) continue;
      const p = find(from, n);
      if (p === null || out[p]) continue;
      const { dev: _d, peer: _p, devOptional: _o, ...entry } = ws[p]!;
      out[p] = entry;
      queue.push(p);
    }
  };
  for (const k of PACKAGES) {
    const e = ws[`packages/${k}`]!;
    const own = JSON.parse(readFileSync(join(root, `packages/${k}/package.json`), 'utf8')) as { bin?: object };
    out[`node_modules/@kdefer/${k}`] = {
      version: e.version,
      resolved: `file:${tarballs[k]}`,
      dependencies: e.dependencies,
      optionalDependencies: e.optionalDependencies,
      ...(own.bin ? { bin: own.bin } : {}),
    };
    visit('', e);
  }
  visit('', { dependencies: { vitest: '*' } });
  while (queue.length > 0) {
    const p = queue.shift()!;
    visit(p, ws[p]!);
  }
  writeFileSync(
    join(proj, 'package-lock.json'),
    JSON.stringify({ name: pkg.name, version: pkg.version, lockfileVersion: 3, requires: true, packages: out }, null, 2),
  );
  return Object.keys(out).length;
}

const dir = mkdtempSync(join(tmpdir(), 'kdefer-pack-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kdefer-only (packaging): npm pack, install the tarballs outside the workspace, use kdefer from there', () => {
  it('kdefer init --tarballs, npm ci --offline, kdefer run on the sample driver and on examples/nic, npm test with @kdefer/test', async () => {
    const packs = join(dir, 'packs');
    mkdirSync(packs);
    const tarballs: Record<string, string> = {};
    for (const k of PACKAGES) {
      const r = await sh('npm', ['pack', '--silent', '--pack-destination', packs], join(root, 'packages', k));
      expect(r.code, r.stderr).toBe(0);
      tarballs[k] = join(packs, r.stdout.trim().split('\n').pop()!);
    }
    expect(Object.values(tarballs).map((t) => t.replace(/^.*\//, ''))).toEqual([
      'kdefer-core-0.1.0.tgz',
      'kdefer-workers-0.1.0.tgz',
      'kdefer-cli-0.1.0.tgz',
      'kdefer-test-0.1.0.tgz',
    ]);

    const proj = join(dir, 'mydriver');
    const init = await sh(process.execPath, [main, 'init', proj, '--tarballs', packs], dir);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/src\/driver\.ts\n[\s\S]*test\/driver\.test\.ts/);
    expect(writeLock(proj, tarballs)).toBeGreaterThan(10);
    const ci = await sh('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], proj, 60_000);
    expect(ci.code, ci.stderr).toBe(0);
    // installed copies, not links into the workspace
    for (const k of PACKAGES) expect(lstatSync(join(proj, 'node_modules/@kdefer', k)).isSymbolicLink()).toBe(false);
    expect(readdirSync(join(proj, 'node_modules/.bin'))).toContain('kdefer');

    const bin = join(proj, 'node_modules/.bin/kdefer');
    const ok = await sh(
      bin,
      ['run', 'src/driver.ts', '--cpus', '2', '--call', 'probe', '--call', 'wait:100', '--call', 'remove', '--irq', '10:1000'],
      proj,
    );
    expect(ok.stdout).toMatch(/remove@0 +returned +-> \{"samples":\d+/);
    expect(ok.stdout).toMatch(/verdict: PASS/);
    expect(ok.code).toBe(0);

    for (const f of ['nic.ts', 'buggy.ts']) copyFileSync(join(root, 'examples/nic', f), join(proj, 'src', f));
    const bug = await sh(
      bin,
      [
        'run',
        'src/buggy.ts',
        '--cpus',
        '2',
        '--call',
        'probe',
        '--call',
        'xmit:20',
        '--call',
        'stall',
        '--call',
        'remove',
        '--irq',
        '12:1000',
      ],
      proj,
    );
    expect(bug.stdout).toContain(`nic_watchdog (${join(proj, 'src/nic.ts')}:`);
    expect(bug.code).toBe(1);

    const test = await sh('npm', ['test', '--silent'], proj, 60_000);
    expect(test.stdout + test.stderr).toMatch(/1 passed/);
    expect(test.code, test.stdout + test.stderr).toBe(0);
  }, 180_000);
});
