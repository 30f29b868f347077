/**
 * commands/init.ts — `kdefer init DIR`: a new driver project.
 *
 * Writes DIR/package.json (depending on @kdefer/cli, @kdefer/core,
 * @kdefer/test and vitest), a sample driver in TypeScript (src/driver.ts:
 * an IRQ handler, a tasklet, a timer and a work item, with a teardown
 * path), a vitest test that runs it (test/driver.test.ts), a vitest config,
 * a tsconfig for editors and a README — copied from templates/driver in
 * this package. `cd DIR && npm install && npm test` then passes: the driver
 * is compiled on the fly, with no build step of the user's.
 *
 *   --name NAME       the package's name (default: DIR's last component)
 *   --tarballs DIR    depend on the packed tarballs in DIR (npm pack's
 *                     kdefer-core-X.tgz ...) instead of the registry: a
 *                     kdefer not published, or an offline machine
 *
 * Exit status 2 when DIR exists and is not empty, or a flag is wrong.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, copyFileSync, statSync } from 'node:fs';
import { basename, join, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option, type CommanderError } from 'commander';

/** The templates, shipped with this package (files: templates). */
const TEMPLATE_DIR = fileURLToPath(new URL('../../templates/driver/', import.meta.url));
/** This package's package.json: the version the new project depends on. */
const OWN_PACKAGE = fileURLToPath(new URL('../../package.json', import.meta.url));
/** The vitest the new project's test runs under (@kdefer/test is tested with it). */
export const VITEST_RANGE = '^4.1.12';
/** The packages a driver project depends on. */
export const PROJECT_PACKAGES = ['@kdefer/cli', '@kdefer/core', '@kdefer/test'] as const;
/** Template files renamed on the way: npm pack drops a .gitignore. */
const RENAME: Record<string, string> = { gitignore: '.gitignore' };

interface InitFlags {
  name?: string;
  tarballs?: string;
}

/** The `init` command. */
export function initCommand(): Command {
  return new Command('init')
    .description(
      'a new driver project in DIR: package.json depending on kdefer, a sample driver in TypeScript, a vitest test that runs it, a README',
    )
    .argument('<dir>', 'the directory to create (absent or empty)')
    .addOption(new Option('--name <name>', "the package's name (default: DIR's last component)"))
    .addOption(new Option('--tarballs <dir>', 'depend on the npm pack tarballs in this directory instead of the registry'))
    .exitOverride((e: CommanderError) => {
      process.exit(e.exitCode === 0 ? 0 : 2);
    })
    .action((dir: string, flags: InitFlags) => {
      process.exitCode = init(dir, flags);
    });
}

function usage(msg: string): number {
  process.stderr.write(`kdefer init: ${msg}\n`);
  return 2;
}

/** An npm package name (lower case, no spaces; a scope allowed). */
const NPM_NAME = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

function init(dir: string, flags: InitFlags): number {
  const abs = resolve(dir);
  if (existsSync(abs)) {
    if (!statSync(abs).isDirectory()) return usage(`${dir}: exists and is not a directory`);
    if (readdirSync(abs).length > 0) return usage(`${dir}: exists and is not empty (init writes a new project; pick a new directory)`);
  }
  const name = flags.name ?? basename(abs).toLowerCase();
  if (!NPM_NAME.test(name) || name.length > 214)
    return usage(`'${name}' is not an npm package name (lower case letters, digits, - . _ ~; give one with --name)`);
  const version = (JSON.parse(readFileSync(OWN_PACKAGE, 'utf8')) as { version: string }).version;
  const deps: Record<string, string> = {};
  for (const p of PROJECT_PACKAGES) deps[p] = `^${version}`;
  if (flags.tarballs !== undefined) {
    const tdir = resolve(flags.tarballs);
    if (!existsSync(tdir) || !statSync(tdir).isDirectory()) return usage(`--tarballs ${flags.tarballs}: no such directory`);
    const files = readdirSync(tdir);
    // all four: @kdefer/cli and @kdefer/test depend on @kdefer/workers, which the registry would be asked for
    for (const p of ['@kdefer/core', '@kdefer/workers', ...PROJECT_PACKAGES.filter((x) => x !== '@kdefer/core')]) {
      const stem = `${p.slice(1).replace('/', '-')}-`;
      const tgz = files.filter((f) => f.startsWith(stem) && f.endsWith('.tgz')).sort();
      if (tgz.length === 0) return usage(`--tarballs ${flags.tarballs}: no ${stem}VERSION.tgz in it (run npm pack in packages/*)`);
      deps[p] = `file:${join(tdir, tgz[tgz.length - 1]!)}`;
    }
  }
  const pkg = {
    name,
    version: '0.1.0',
    private: true,
    description: 'a driver module run and tested under kdefer',
    type: 'module',
    scripts: {
      test: 'vitest run',
      start: 'kdefer run src/driver.ts --cpus 2 --call probe --call wait:200 --call remove --irq 10:1000',
    },
    devDependencies: { ...deps, vitest: VITEST_RANGE },
    // @kdefer/workers pinned alongside when installing from tarballs: npm resolves
    // a file: dependency's own dependencies from the registry otherwise.
    ...(flags.tarballs !== undefined
      ? { overrides: { '@kdefer/workers': deps['@kdefer/workers'], '@kdefer/core': deps['@kdefer/core'] } }
      : {}),
    engines: { node: '>=20' },
  };
  mkdirSync(abs, { recursive: true });
  const written: string[] = [];
  const copy = (from: string, to: string): void => {
    for (const e of readdirSync(from, { withFileTypes: true })) {
      const src = join(from, e.name);
      const dst = join(to, RENAME[e.name] ?? e.name);
      if (e.isDirectory()) {
        mkdirSync(dst, { recursive: true });
        copy(src, dst);
      } else {
        if (e.name === 'README.md') writeFileSync(dst, readFileSync(src, 'utf8').replaceAll('__NAME__', name));
        else copyFileSync(src, dst);
        written.push(relative(abs, dst));
      }
    }
  };
  copy(TEMPLATE_DIR, abs);
  writeFileSync(join(abs, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  written.push('package.json');
  const out = process.stdout;
  out.write(`kdefer init: a driver project '${name}' in ${dir}\n`);
  for (const f of written.sort()) out.write(`  ${f}\n`);
  out.write(
    `next:\n  cd ${dir}\n  npm install\n  npm test        # vitest with @kdefer/test\n  npm start       # kdefer run src/driver.ts ...\n`,
  );
  return 0;
}
