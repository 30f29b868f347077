// ESLint (flat config): typescript-eslint's recommended rules over every
// TypeScript source, with Prettier owning the layout (eslint-config-prettier
// switches off the rules that would fight it). `npm run lint` runs this,
// `prettier --check` and the layer check (.dependency-cruiser.cjs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import jsdoc from 'eslint-plugin-jsdoc';

// Kernel-face names in packages/core: snake_case, one lowercase word
// (schedule, msleep) or a kernel macro in capitals (BUG, WARN).
const KERNEL_NAME = '/^(?:[a-z0-9]+|[A-Za-z0-9]*_[A-Za-z0-9_]*|[A-Z0-9]+)$/';
// A kernel-doc `Context:` line anywhere in the block (its own line, or a
// continuation line of a tag, as kernel-doc writes it after the parameters).
const NO_CONTEXT = 'JsdocBlock:not(:has(JsdocDescriptionLine[description=/^Context:/]))';
// Files whose exported functions still lack their TSDoc (#10 habits): the
// rule runs on every other core file. Shrink this list; never grow it.
const TSDOC_TODO = ['packages/core/src/entry.ts', 'packages/core/src/sched.ts', 'packages/core/src/workqueue.ts'];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'kdefer-results/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    // Every exported function in core has TSDoc; a kernel-face one also says
    // its Context: (who may call it, whether it may sleep), and every function
    // that returns a value documents it (@returns).
    files: ['packages/core/src/**/*.ts'],
    ignores: TSDOC_TODO,
    plugins: { jsdoc },
    settings: { jsdoc: { mode: 'typescript' } },
    rules: {
      'jsdoc/require-jsdoc': [
        'error',
        { publicOnly: true, require: { FunctionDeclaration: true, ArrowFunctionExpression: true, FunctionExpression: true } },
      ],
      'jsdoc/require-returns': [
        'error',
        {
          contexts: [
            'FunctionDeclaration[parent.type="ExportNamedDeclaration"]',
            ':matches(ArrowFunctionExpression, FunctionExpression)[parent.parent.parent.type="ExportNamedDeclaration"]',
          ],
        },
      ],
      // esquery's child combinator does not work in jsdoc's context matching
      // (no ancestry there): the export is found through `parent`.
      'jsdoc/no-restricted-syntax': [
        'error',
        {
          contexts: [
            {
              context: `FunctionDeclaration[parent.type="ExportNamedDeclaration"][id.name=${KERNEL_NAME}]`,
              comment: NO_CONTEXT,
              message: 'exported kernel-face function: its TSDoc needs a `Context:` line',
            },
            {
              context: `:matches(ArrowFunctionExpression, FunctionExpression)[parent.parent.parent.type="ExportNamedDeclaration"][parent.id.name=${KERNEL_NAME}]`,
              comment: NO_CONTEXT,
              message: 'exported kernel-face function (const): its TSDoc needs a `Context:` line',
            },
          ],
        },
      ],
    },
  },
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // `_`-prefixed parameters are the kernel's unused arguments (irq, dev_id).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // The memory map and the hot paths index typed arrays with `!`; tsc's strict mode checks the rest.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Busy-wait loops (cpu_relax, amplify delays) have empty bodies with a comment.
      'no-empty': ['error', { allowEmptyCatch: true }],
      // Labelled `for (;;)` loops with a break are the CPU loop's shape.
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
);
