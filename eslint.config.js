// Lint: typescript-eslint's recommended rules plus the type-aware ones this project relies on
// (no promise left floating, every union switch exhaustive, no non-null assertions).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "native/", "wasm/", "fuzz-artifacts/", "**/*.js", "**/*.mjs", "**/*.cjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/no-non-null-assertion": "error",
      // `const { id: _id, ...rest } = m` drops a property on purpose.
      "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true }],
    },
  },
  {
    // tap queues t.test() subtests and awaits them itself; tests and benchmarks may assert with `!`
    // where a TypeError would fail the run just the same; tests match terminal escape sequences
    // (ESC, CR) in what magicpak prints, so control characters in their regexes are intended.
    files: ["test/**/*.ts", "bench/**/*.ts"],
    rules: { "@typescript-eslint/no-floating-promises": "off", "@typescript-eslint/no-non-null-assertion": "off", "no-control-regex": "off" },
  },
);
