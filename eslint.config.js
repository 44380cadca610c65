// Lint rules: typescript-eslint's recommended set on top of eslint's, for src, test and bench.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // Node defines the global `Buffer` as an accessor: every use of it is a getter call (~6 ns
    // against ~1 for an imported binding, more in code V8 has not optimised, as a client's path
    // run 100 times a second stays). The product imports it.
    files: ['src/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'Buffer', message: "import { Buffer } from 'node:buffer' (the global is a getter)" },
      ],
      // V8 does not inline a method load from a typed array in optimised code: `buf.readUInt32LE(o)`
      // is an inline-cache call and a generic call each time. src/common/bytes.ts has them as
      // functions that V8 inlines.
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'CallExpression > MemberExpression.callee[property.name=/^(read|write)(U?Int(8|16|32)(LE|BE)?|BigU?Int64(LE|BE)|Double(LE|BE)|Float(LE|BE))$/]',
          message: 'use the function of src/common/bytes.ts (e.g. readUInt32LE(buf, off)): V8 inlines it',
        },
      ],
    },
  },
);
