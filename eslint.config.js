// ESLint (flat config): typescript-eslint's recommended rules over every
// TypeScript source, with Prettier owning the layout (eslint-config-prettier
// switches off the rules that would fight it). `npm run lint` runs this,
// `prettier --check` and the layer check (.dependency-cruiser.cjs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'kdefer-results/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
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
