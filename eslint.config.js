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
    // bin/run.js is CommonJS (bin/package.json): a CommonJS entry starts faster than an ES module one.
    // scripts/assert-when-used.cjs is CommonJS source that scripts/bundle.mjs puts in the ssh2 bundle.
    files: ['bin/run.js', 'scripts/assert-when-used.cjs'],
    languageOptions: {sourceType: 'commonjs', globals: {require: 'readonly', __dirname: 'readonly', module: 'readonly'}},
    rules: {'@typescript-eslint/no-require-imports': 'off'},
  },
  {
    // The inspector page's script runs in the browser (docs/inspect.md).
    files: ['inspector/**/*.js'],
    languageOptions: {sourceType: 'script', globals: {document: 'readonly', window: 'readonly', location: 'readonly', history: 'readonly', sessionStorage: 'readonly', fetch: 'readonly', TextDecoderStream: 'readonly', requestAnimationFrame: 'readonly', setInterval: 'readonly'}},
  },
  {
    // Core stays free of the CLI's libraries (../shared/STYLE.md, "The shape": dependencies flow one way).
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {patterns: ['@oclif/*', 'chalk', '@inquirer/*', '**/cli/*', '**/commands/*']}],
    },
  },
  {
    // A code with a typed class is always raised as that class, so that instanceof and code agree (docs/errors.md).
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/errors.ts'],
    rules: {
      'no-restricted-syntax': ['error',
        {selector: "NewExpression[callee.name='RestwireError'][arguments.0.value=/^RW_ERR_(TIMEOUT|CLOSED|FRAME_CORRUPT|REMOTE_4XX|REMOTE_5XX)$/]", message: 'Use TimeoutError, PeerGoneError, FrameCorruptError or StatusError for this code.'},
        {selector: "NewExpression[callee.name='RestwireError'][arguments.0.type!='Literal']", message: 'A code known only at run time: use errorForCode().'},
      ],
    },
  },
)
