// `kdefer run FILE` (issue 13), a kdefer-only behaviour: a user's own module
// file loaded on every CPU, its entries called, its IRQs driven, and the
// verdict's exit status — through the built command, as a user runs it.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../packages/cli/bin/kdefer.js', import.meta.url));
const example = (p: string): string => fileURLToPath(new URL(`../examples/${p}`, import.meta.url));

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the command; a hang fails the test (execFile's timeout), it does not hang it. */
function kdefer(...args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [main, 'run', ...args], { timeout: 40_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

// Bad module files are written at run time: a file with a syntax error
// cannot live in the linted tree.
const dir = mkdtempSync(join(tmpdir(), 'kdefer-run-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('kdefer run: the examples, bug and fix side by side', () => {
  it('S-LOCK-10, examples/chardev: spin_lock() in read() against the IRQ handler on the same CPU exits 1 with lockdep; spin_lock_irqsave() exits 0', async () => {
    const irq = ['--cpus', '2', '--seconds', '5', '--call', 'read@0:20000', '--call', 'remove@0', '--irq', '11:5000@0'];
    const bug = await kdefer(example('chardev/buggy.ts'), ...irq);
    expect(bug.code).toBe(1);
    expect(bug.stdout).toMatch(/WARNING: inconsistent lock state/);
    expect(bug.stdout).toMatch(/verdict: FAIL .*lockdep/);
    const fix = await kdefer(example('chardev/fixed.ts'), ...irq);
    expect(fix.stdout).toMatch(/verdict: PASS/);
    expect(fix.code).toBe(0);
    expect(fix.stdout).toMatch(/remove@0 +returned/);
  });

  it('S-WQ-20, examples/wqflush: flush_work() holding the mutex the work takes exits 1 with a circular dependency through the work map; the fix exits 0', async () => {
    const bug = await kdefer(example('wqflush/buggy.ts'), '--cpus', '2', '--call', 'probe', '--call', 'remove');
    expect(bug.code).toBe(1);
    expect(bug.stdout).toMatch(/WARNING: possible circular locking dependency detected/);
    expect(bug.stdout).toMatch(/\(work_completion\)\(wqflush\.reset_work\)/);
    const fix = await kdefer(example('wqflush/fixed.ts'), '--cpus', '2', '--call', 'probe', '--call', 'remove');
    expect(fix.code).toBe(0);
    expect(fix.stdout).toMatch(/probe@0 +returned +-> 1\n.*remove@0 +returned/);
  });

  it('S-TIME-12, examples/nic: timer_delete_sync() that a running reset work re-arms leaves the watchdog to fire into freed priv (exit 1, KASAN in nic_watchdog, at its .ts line); timer_shutdown_sync() exits 0', async () => {
    const args = ['--cpus', '2', '--call', 'probe', '--call', 'xmit:200', '--call', 'stall', '--call', 'remove', '--irq', '12:2000'];
    const bug = await kdefer(example('nic/buggy.ts'), ...args);
    expect(bug.code).toBe(1);
    expect(bug.stdout).toMatch(/BUG: KASAN: slab-use-after-free in nic_watchdog/);
    expect(bug.stdout).toContain(`nic_watchdog (${example('nic/nic.ts')}:`);
    expect(bug.stdout).toMatch(/Freed by task \d+ on cpu \d+ in task context:\n.*remove/);
    expect(bug.stdout).toMatch(/verdict: FAIL .*KASAN/);
    const fix = await kdefer(example('nic/fixed.ts'), ...args);
    expect(fix.stdout).toMatch(/verdict: PASS/);
    expect(fix.code).toBe(0);
    expect(fix.stdout).toMatch(/stall@0 +returned +-> [1-9]\n.*remove@0 +returned +-> \{"rx":\d+,"tx":2\d\d,"resets":[1-9]\}/);
    const irq12 = /^ 12: +(\d+) +(\d+)/m.exec(fix.stdout); // the interrupts came (free_irq took the name off the line)
    expect(Number(irq12?.[1]) + Number(irq12?.[2])).toBeGreaterThan(0);
  });

  it('kdefer-only (usermod), --allow lockdep: the expected report passes, and is still listed', async () => {
    const r = await kdefer(example('wqflush/buggy.ts'), '--cpus', '2', '--call', 'probe', '--call', 'remove', '--allow', 'lockdep');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/report lockdep +\(allowed\)/);
  });
});

describe('kdefer-only (usermod), kdefer run: a TypeScript module, compiled on the fly', () => {
  it("a BUG's call trace names the user's .ts file and line (inline source maps in the CPU workers)", async () => {
    const f = file(
      'rec.ts',
      [
        "import { defineModule, DEFINE_SPINLOCK, spin_lock, spin_unlock } from '@kdefer/core';",
        "export default defineModule('rec', () => {",
        "  const lock = DEFINE_SPINLOCK('rec.lock');",
        '  const n: number = 1;',
        '  function inner(): void {',
        '    spin_lock(lock);',
        '    spin_unlock(lock);',
        '  }',
        '  return { async twice() { spin_lock(lock); inner(); spin_unlock(lock); return n; } };',
        '});',
      ].join('\n'),
    );
    const r = await kdefer(f, '--cpus', '2', '--call', 'twice');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/BUG: spinlock recursion/);
    expect(r.stdout).toContain(`inner (${f}:6:`);
  });
});

describe('kdefer-only (usermod), kdefer run: a module that does not load is a clear error naming the file (exit 2)', () => {
  it('a missing file', async () => {
    const r = await kdefer(join(dir, 'nope.ts'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope\.ts: no such file/);
  });

  it('not a module file', async () => {
    const r = await kdefer(file('notes.txt', 'hello'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/notes\.txt: a module is a \.js, \.mjs or \.ts file/);
  });

  it('a syntax error, with its line and column', async () => {
    const f = file(
      'syn.ts',
      "import { defineModule } from '@kdefer/core';\nexport default defineModule('syn', () => {\n  const x = ;\n});\n",
    );
    const r = await kdefer(f, '--cpus', '2');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:3:`);
  });

  it('no defineModule default export', async () => {
    const r = await kdefer(file('nodef.ts', 'export const x = 1;\n'), '--cpus', '2');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nodef\.ts: no defineModule\(\.\.\.\) default export/);
  });

  it('an import of a kernel name kdefer does not provide, with the close one it has', async () => {
    const r = await kdefer(
      file(
        'unk.mjs',
        "import { defineModule, spin_lok } from '@kdefer/core';\nexport default defineModule('unk', () => { void spin_lok; });\n",
      ),
      '--cpus',
      '2',
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unk\.mjs: imports 'spin_lok', which kdefer does not provide \(kdefer has 'spin_lock'\)/);
  });

  it('an init that throws, with the line it threw at', async () => {
    const f = file(
      'thr.ts',
      "import { defineModule } from '@kdefer/core';\nexport default defineModule('thr', () => {\n  throw new Error('probe failed: no device');\n});\n",
    );
    const r = await kdefer(f, '--cpus', '2');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:3:`);
    expect(r.stderr).toMatch(/probe failed: no device/);
  });

  it('an entry that awaits a foreign promise is a report (exit 1)', async () => {
    const f = file(
      'fp.ts',
      "import { defineModule } from '@kdefer/core';\nexport default defineModule('fp', () => ({\n  async go() {\n    await new Promise((r) => setTimeout(r, 10));\n    return 1;\n  },\n}));\n",
    );
    const r = await kdefer(f, '--cpus', '2', '--call', 'go');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/report foreign-promise/);
  });
});

describe('kdefer-only (usermod), kdefer run: bad flags (exit 2, before or right after boot)', () => {
  const ok = example('wqflush/fixed.ts');
  it.each([
    [['--call', 'probe@x'], /--call 'probe@x': expected ENTRY\[@CPU\|@all\]\[:ARG\.\.\.\]/],
    [['--call', '9probe'], /--call '9probe'/],
    [['--cpus', '2', '--call', 'probe@5'], /--call probe@5: CPU 5 does not exist \(--cpus 2\)/],
    [['--irq', 'eleven'], /--irq 'eleven': expected LINE\[:RATE\]\[@CPU\]/],
    [['--irq', '11:0'], /--irq '11:0': RATE must be greater than 0/],
    [['--irq', '11:x0'], /--irq '11:x0': a burst is x1 to x1000000/],
    [['--cpus', '2', '--irq', '11@3'], /--irq 11@3: CPU 3 does not exist/],
    [['--cpus', '2', '--irq', '4000'], /--irq 4000: .*IRQ 4000 does not exist/],
    [['--allow', 'oops'], /--allow 'oops': a report is one of BUG, WARNING, KASAN, lockdep, lockup, foreign-promise/],
    [['--seconds', '0'], /--seconds must be a number greater than 0/],
    [['--settle', '-1'], /--settle must be an integer from 0 to 60000/],
    [['--settle', 'soon'], /--settle must be an integer from 0 to 60000/],
    [['--call', 'probe', '--call', 'nosuch'], /module 'wqflush_fixed' has no entry 'nosuch' \(entries: probe, remove\)/],
    [['--amplify', '7'], /--amplify must be 0, 1, 2 or 3/],
  ])('%j', async (args, message) => {
    const r = await kdefer(ok, ...args);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
  });
});
