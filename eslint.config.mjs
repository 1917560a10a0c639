// Lint rules: typescript-eslint's recommended set, type-aware, over every TypeScript module.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', '.vscode-test/**', 'samples/**/build/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', {
        selector: "CallExpression[callee.name='eval']",
        message: 'Expressions are parsed by the project, never evaluated as JavaScript.',
      }],
    },
  },
  {
    // DESIGN.md layering: the engine never reaches the editor or the DAP packages.
    files: ['src/**/*.ts'],
    ignores: ['src/extension/**'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['vscode', '@vscode/debugadapter', '@vscode/debugprotocol'],
        patterns: ['**/debug-adapter/**', '**/extension/**'],
      }],
    },
  },
);
