/**
 * usermod.ts — a user's own module file, made loadable, and a machine's dmesg
 * read for reports: what `kdefer run` (and the test helper later) share.
 *
 * Models nothing of Linux by itself: insmod's host side. A .js/.mjs file is
 * loaded as it is; a .ts/.mts file is compiled on the fly with esbuild (an
 * optional dependency: a clear error when it is missing) into a temporary
 * .mjs with an inline source map, and the CPU workers run with source maps
 * enabled (process.setSourceMapsEnabled in the worker), so that a report's
 * call trace names the user's .ts file and line.
 */
import { existsSync, mkdtempSync, writeFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve, dirname } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { reportKindOf } from '@kdefer/core';

/** A bad module file: the message names the file and, where known, the line. */
export class ModuleFileError extends Error {
  override name = 'ModuleFileError';
}

/** A module file, ready for Machine.boot({modules}); `cleanup` removes any compiled copy. */
export interface PreparedModule {
  url: URL;
  file: string;
  cleanup: () => void;
}

const JS_EXT = new Set(['.js', '.mjs']);
const TS_EXT = new Set(['.ts', '.mts']);

/** Check a module file and, for TypeScript, compile it. Throws ModuleFileError. */
export async function prepareModule(file: string): Promise<PreparedModule> {
  const abs = resolve(file);
  if (!existsSync(abs)) throw new ModuleFileError(`${file}: no such file`);
  if (!statSync(abs).isFile()) throw new ModuleFileError(`${file}: not a file`);
  const ext = extname(abs);
  // A .js file next to its own copy of kdefer loads as it is; one outside
  // any project (a file in /tmp) goes through esbuild too, so that its
  // '@kdefer/core' resolves to the kdefer that runs it.
  if (JS_EXT.has(ext) && findPackageDir(dirname(abs), '@kdefer/core') !== null)
    return { url: pathToFileURL(abs), file: abs, cleanup: () => undefined };
  if (!TS_EXT.has(ext) && !JS_EXT.has(ext))
    throw new ModuleFileError(`${file}: a module is a .js, .mjs or .ts file (got '${ext || 'no extension'}')`);
  return compileTs(abs);
}

/** node_modules/<pkg> seen from `dir` upwards, or null. */
function findPackageDir(dir: string, pkg: string): string | null {
  for (let d = dir; ; d = dirname(d)) {
    const p = join(d, 'node_modules', pkg);
    if (existsSync(join(p, 'package.json'))) return p;
    if (dirname(d) === d) return null;
  }
}

/** This kdefer's own directory: a user's file with no kdefer of its own imports this one. */
const OWN_DIR = dirname(fileURLToPath(import.meta.url));

async function compileTs(abs: string): Promise<PreparedModule> {
  type Esbuild = typeof import('esbuild');
  let esbuild: Esbuild;
  try {
    esbuild = (await import('esbuild')) as Esbuild;
  } catch {
    throw new ModuleFileError(`${abs}: loading TypeScript needs esbuild (npm install esbuild), or run the compiled .js`);
  }
  // The user's own relative imports are bundled; packages (@kdefer/core
  // above all) stay imports, resolved from the user's directory so that the
  // compiled copy in a temporary directory finds the same copy of kdefer.
  // The output's path is known before the build, so that the source map's
  // paths, relative to it, lead back to the user's file.
  const dir = mkdtempSync(join(tmpdir(), 'kdefer-mod-'));
  const outFile = join(dir, abs.replace(/^.*[\\/]/, '').replace(/\.m?ts$/, '.mjs'));
  let out: string;
  try {
    const r = await esbuild.build({
      entryPoints: [abs],
      outfile: outFile,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'inline',
      sourcesContent: false,
      write: false,
      logLevel: 'silent',
      keepNames: true,
      plugins: [
        {
          name: 'kdefer-packages',
          setup(b) {
            b.onResolve({ filter: /^[^./]/ }, async (a) => {
              if (a.path.startsWith('node:') || a.pluginData === 'kdefer') return undefined;
              for (const resolveDir of [a.resolveDir, OWN_DIR]) {
                const r = await b.resolve(a.path, { kind: a.kind, resolveDir, pluginData: 'kdefer' });
                if (r.errors.length === 0 && r.path !== '') return { path: pathToFileURL(r.path).href, external: true };
                if (!a.path.startsWith('@kdefer/')) break;
              }
              return { path: a.path, external: true };
            });
          },
        },
      ],
    });
    out = r.outputFiles[0]!.text;
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const errs = (e as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] }).errors;
    if (errs && errs.length > 0) {
      const x = errs[0]!;
      const where = x.location ? `${resolve(dirname(abs), x.location.file)}:${x.location.line}:${x.location.column + 1}` : abs;
      throw new ModuleFileError(`${where}: ${x.text}`);
    }
    throw new ModuleFileError(`${abs}: ${e instanceof Error ? e.message : String(e)}`);
  }
  writeFileSync(outFile, out);
  return { url: pathToFileURL(outFile), file: abs, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Kernel names a user may reach for that kdefer spells the modern way. */
const RENAMED: Record<string, string> = {
  del_timer: 'timer_delete',
  del_timer_sync: 'timer_delete_sync',
  from_timer: 'timer_container_of',
  tasklet_kill_immediate: 'tasklet_kill',
};

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const t = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = t;
    }
  }
  return d[b.length]!;
}

/** kdefer's closest name to `name` among `names`, or null. */
export function closestName(name: string, names: string[]): string | null {
  const renamed = RENAMED[name];
  if (renamed !== undefined && names.includes(renamed)) return renamed;
  let best: string | null = null;
  let bestD = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const n of names) {
    const dd = distance(name, n);
    if (dd < bestD) [best, bestD] = [n, dd];
  }
  return best;
}

/**
 * A load failure of the module, made readable: an import of a name kdefer
 * does not export is named, with a close one when kdefer has it; otherwise
 * the error's message and the first frame in the user's file.
 */
export async function explainLoadError(e: unknown, mod: PreparedModule): Promise<string> {
  const msg = e instanceof Error ? e.message.replace(/^kdefer: /, '') : String(e);
  const missing = /does not provide an export named '([^']+)'/.exec(msg);
  if (missing) {
    const name = missing[1]!;
    let names: string[] = [];
    try {
      names = Object.keys(await import('@kdefer/core'));
    } catch {
      // no suggestion then
    }
    const near = closestName(name, names);
    return `${mod.file}: imports '${name}', which kdefer does not provide${near ? ` (kdefer has '${near}')` : ''}`;
  }
  if (/has no default export|not a kdefer module/.test(msg))
    return `${mod.file}: no defineModule(...) default export (write: export default defineModule('name', () => { ... }))`;
  // The first frame in the user's own file (source-mapped for .ts) is the line.
  const stack = e instanceof Error ? (e.stack ?? '') : '';
  const frame = stack
    .split('\n')
    .map((l) => /\(?((?:file:\/\/)?\/[^()]*?:\d+:\d+)\)?\s*$/.exec(l)?.[1])
    .find((l) => l !== undefined && (l.includes(mod.file) || l.includes(fileURLToPath(mod.url))));
  return `${frame?.replace(/^file:\/\//, '') ?? mod.file}: ${msg}`;
}

/** The kinds of report a dmesg holds (the kernel's own first lines). */
export type ReportKind = 'BUG' | 'WARNING' | 'KASAN' | 'lockdep' | 'lockup' | 'foreign-promise';

/** Every ReportKind, for --allow. */
export const REPORT_KINDS: ReportKind[] = ['BUG', 'WARNING', 'KASAN', 'lockdep', 'lockup', 'foreign-promise'];

/** One report found in dmesg: its kind, finer names for it, its first line and where it starts. */
export interface FoundReport {
  kind: ReportKind;
  /** finer names: 'spinlock-recursion', 'sleeping-in-atomic', 'circular-locking', 'soft-lockup', 'use-after-free', ... */
  names: string[];
  line: string;
  /** index of that line in dmesg's lines */
  at: number;
}

const FINE: [RegExp, string][] = [
  [/BUG: spinlock recursion/, 'spinlock-recursion'],
  [/BUG: spinlock lockup/, 'spinlock-lockup'],
  [/BUG: (sleeping function called from invalid context|scheduling while atomic)/, 'sleeping-in-atomic'],
  [/possible circular locking dependency/, 'circular-locking'],
  [/possible recursive locking/, 'recursive-locking'],
  [/inconsistent lock state/, 'inconsistent-lock-state'],
  [/bad unlock balance/, 'bad-unlock-balance'],
  [/soft lockup/, 'soft-lockup'],
  [/hard LOCKUP|hard lockup/i, 'hard-lockup'],
  [/blocked for more than/, 'hung-task'],
  [/KASAN: slab-use-after-free/, 'use-after-free'],
  [/KASAN: double-free/, 'double-free'],
];

/**
 * Classify dmesg's reports. One function on purpose: when machine.reports()
 * (typed report records) lands in @kdefer/workers, this switches over to it.
 */
export function findReports(dmesg: string): FoundReport[] {
  const out: FoundReport[] = [];
  dmesg.split('\n').forEach((raw, at) => {
    const line = raw.replace(/^(\[[^\]]*\]\s*)+/, '');
    // What a report is, is printk's decision (reportKindOf); the verdict
    // folds its kinds into the ones --allow names. An Oops or panic follows
    // the BUG or WARNING that opened it, and a hung task's INFO is a lockup.
    let kind: ReportKind | null = null;
    if (/^kdefer: task .* awaited a promise that is not a kernel primitive/.test(line)) kind = 'foreign-promise';
    else {
      const k = reportKindOf(line);
      if (k === 'INFO') kind = /blocked for more than/.test(line) ? 'lockup' : null;
      else if (k !== null && k !== 'Oops' && k !== 'panic') kind = k;
    }
    if (kind !== null) out.push({ kind, names: FINE.filter(([re]) => re.test(line)).map(([, n]) => n), line, at });
  });
  return out;
}

/** The lines of a report: from its first line to the next report or `max` lines. */
export function reportExcerpt(dmesg: string, r: FoundReport, max = 40): string {
  return dmesg
    .split('\n')
    .slice(r.at, r.at + max)
    .join('\n');
}
