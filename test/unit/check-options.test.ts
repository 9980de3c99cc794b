// bundle() and bundleFromImage() check their options before anything runs, as esbuild checks its
// API's: one BundleError naming the option (options.a.b) for a wrong type, a value out of range or
// an unknown key, and nothing written. The timeout bound is the one Node's timers really have.

import t from "tap";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BundleError, bundle, bundleFromImage, type BundleOptions } from "../../lib/index.js";
import { MAX_TIMEOUT_MS } from "../../lib/bundle/check-options.js";

const dir = mkdtempSync(join(tmpdir(), "magicpak-check-options-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const output = join(dir, "out");

const refused: [string, Record<string, unknown>, string, RegExp][] = [
  ["inputs as a string", { inputs: "/usr/bin/true" }, "options.inputs", /^must be an array \(got "\/usr\/bin\/true"\)$/],
  ["an empty input", { inputs: [""] }, "options.inputs[0]", /^must not be empty$/],
  ["a NUL byte in an input", { inputs: ["/usr/bin/tr\0ue"] }, "options.inputs[0]", /^must not contain a NUL byte$/],
  ["no inputs key", {}, "options.inputs", /^is required$/],
  ["a misspelt key", { inputs: ["/usr/bin/true"], tset: { command: "true" } }, "options.tset", /^is not an option \(did you mean options\.test\?\)$/],
  ["a misspelt nested key", { inputs: ["/usr/bin/true"], test: { timeout: 5 } }, "options.test.timeout", /^is not an option \(did you mean options\.test\.timeoutMs\?\)$/],
  ["a key nothing is near", { inputs: ["/usr/bin/true"], zzzzzzzz: 1 }, "options.zzzzzzzz", /^is not an option$/],
  ["a negative timeout", { inputs: ["/usr/bin/true"], test: { timeoutMs: -1 } }, "options.test.timeoutMs", /^must be a number of milliseconds above 0 and at most 2147483647 \(got -1\)$/],
  ["a timeout a timer cannot wait", { inputs: ["/usr/bin/true"], dynamicTest: { timeoutMs: MAX_TIMEOUT_MS + 1 } }, "options.dynamicTest.timeoutMs", /at most 2147483647 \(got 2147483648\)/],
  ["NaN as a timeout", { inputs: ["/usr/bin/true"], dynamic: { timeoutMs: NaN } }, "options.dynamic.timeoutMs", /\(got NaN\)/],
  ["a word in another case", { inputs: ["/usr/bin/true"], extras: { dlopenNotes: "Required" } }, "options.extras.dlopenNotes", /^must be none, required, recommended or all \(got "Required"\)$/],
  ["an unknown tracer", { inputs: ["/usr/bin/true"], dynamic: { tracer: "ptrace" } }, "options.dynamic.tracer", /^must be auto, native or strace/],
  ["a string for a boolean", { inputs: ["/usr/bin/true"], packageRecords: "no" }, "options.packageRecords", /^must be true or false \(got "no"\)$/],
  ["an environment name with =", { inputs: ["/usr/bin/true"], dynamicTest: { env: { "A=B": "1" } } }, 'options.dynamicTest.env key "A=B"', /^must not contain '='$/],
  ["a bad image tag", { inputs: ["/usr/bin/true"], images: { ociLayout: join(dir, "oci"), config: { tag: "Not A Reference" } } }, "options.images.config.tag", /not a valid image reference/],
  ["an SBOM without a path", { inputs: ["/usr/bin/true"], sbom: { format: "spdx" } }, "options.sbom.path", /^is required$/],
  ["a logger that is not a function", { inputs: ["/usr/bin/true"], log: "Info" }, "options.log", /^must be a function \(got "Info"\)$/],
  ["a null options object", null as unknown as Record<string, unknown>, "options", /^must be an object \(got null\)$/],
];

for (const [what, options, path, problem] of refused) {
  t.test(`bundle() refuses ${what}, naming ${path}`, async (t) => {
    const given = options === null ? null : { output, ...options };
    const error = await bundle(given as unknown as BundleOptions).then(
      () => null,
      (e: unknown) => e,
    );
    t.type(error, BundleError);
    t.equal((error as BundleError).path, path);
    t.match((error as BundleError).problem, problem);
    t.notOk(existsSync(output), "nothing written");
  });
}

t.test("undefined is as absent, and correct options run", async (t) => {
  const result = await bundle({ inputs: ["/usr/bin/true"], output: undefined, test: undefined, extras: { nss: undefined, dlopenNotes: "all" } });
  t.ok(result.graph.has("/usr/bin/true"));
});

t.test("bundleFromImage() checks its own keys and bundle()'s", async (t) => {
  for (const [options, path, problem] of [
    [{ source: join(dir, "oci"), limits: { maxBytes: 0, maxEntries: 10 } }, "options.limits.maxBytes", /^must be a whole number above 0 \(got 0\)$/],
    [{ roots: [{ platform: "linux/arm64" }] }, "options.roots[0].root", /^is required$/],
    [{ source: join(dir, "oci"), test: { network: "wide" } }, "options.test.network", /^must be none or host/],
    [{ source: join(dir, "oci"), platfrom: "linux/arm64" }, "options.platfrom", /did you mean options\.platform\?/],
  ] as const) {
    const error = await bundleFromImage(options as never).then(
      () => null,
      (e: unknown) => e,
    );
    t.type(error, BundleError);
    t.equal((error as BundleError).path, path);
    t.match((error as BundleError).problem, problem);
  }
});

t.test("MAX_TIMEOUT_MS is the longest wait Node's timers take: one more fires at once with a TimeoutOverflowWarning", async (t) => {
  const probe = (ms: number) =>
    spawnSync(
      process.execPath,
      ["-e", `const s = Date.now(); const h = setTimeout(() => { console.log("fired", Date.now() - s < 1000); }, ${ms}); setTimeout(() => { clearTimeout(h); console.log("waiting"); }, 300);`],
      { encoding: "utf8" },
    );
  const atMax = probe(MAX_TIMEOUT_MS);
  t.equal(atMax.stdout, "waiting\n");
  t.notMatch(atMax.stderr, /TimeoutOverflowWarning/);
  const beyond = probe(MAX_TIMEOUT_MS + 1);
  t.equal(beyond.stdout, "fired true\nwaiting\n");
  t.match(beyond.stderr, /TimeoutOverflowWarning/);
});
