import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'oclif.manifest.json']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {globals: {Buffer: 'readonly', console: 'readonly', process: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setImmediate: 'readonly', performance: 'readonly', URL: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', NodeJS: 'readonly'}},
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
  {
    // Core stays free of the CLI's libraries (../shared/STYLE.md, "The shape": dependencies flow one way).
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {patterns: ['@oclif/*', 'chalk', '@inquirer/*', '**/cli/*', '**/commands/*']}],
    },
  },
)
