// ESLint for the shape of the code; types are tsc's job. The parser is Babel's TypeScript parser:
// typescript-eslint needs the TypeScript compiler's JavaScript API (TypeScript < 6.1, or ≥ 7.1
// through @typescript/native), and this project compiles with TypeScript 7.0.2, which has none.
// The rules asked of the code are ESLint's own and need no types.
import js from "@eslint/js";
import babelParser from "@babel/eslint-parser";

const NODE_GLOBALS = Object.fromEntries(
  ["process", "console", "Buffer", "URL", "setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval", "clearImmediate", "queueMicrotask"].map(
    (name) => [name, "readonly"],
  ),
);

const typescript = {
  parser: babelParser,
  parserOptions: { requireConfigFile: false, babelOptions: { babelrc: false, configFile: false, parserOpts: { plugins: ["typescript"] } } },
};

export default [
  { ignores: ["node_modules/", "dist/", "coverage/"] },
  js.configs.recommended,
  {
    files: ["**/*.ts", "**/*.mts"],
    languageOptions: typescript,
    rules: {
      // tsc resolves every name and type; ESLint's scope analysis does not see types.
      "no-undef": "off",
      "no-unused-vars": "off",
      "no-redeclare": "off",
    },
  },
  {
    // Plain JavaScript (fixtures, the app example): Node's globals; tsc does not look at these.
    files: ["**/*.js", "**/*.cjs", "**/*.mjs"],
    languageOptions: { globals: NODE_GLOBALS },
  },
  {
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { ...NODE_GLOBALS, require: "readonly", module: "writable", __dirname: "readonly" } },
  },
  { rules: { "no-nested-ternary": "error" } },
  {
    // The product's code reads as named steps: a file a page or so, a function a screen.
    files: ["lib/**", "scripts/**", "docker/**"],
    rules: {
      "max-lines": ["error", { max: 300, skipBlankLines: true, skipComments: true }],
      "max-lines-per-function": ["error", { max: 60, skipBlankLines: true, skipComments: true }],
    },
  },
];
