// The package as users get it. A copy of the sources as a fresh clone has them (tracked and
// untracked files, nothing ignored: no dist/, no native addon, no caches) is packed by `npm pack`,
// which builds dist/ with the package's own prepare script; the tarball is installed by npm into
// an empty project (its dependencies from the npm cache or the registry); the installed `magicpak`
// then bundles and tests /bin/bash, also with --compress (the built-in UPX must be in the package),
// and works without the optional native addon. The tarball holds only what users need.

import t from "tap";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fixture } from "../support/fixtures.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
const scratch = mkdtempSync(join(tmpdir(), "magicpak-pack-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

const source = join(scratch, "source");
const packed = join(scratch, "packed");
const app = join(scratch, "app");
const installed = join(app, "node_modules/magicpak");

/**
 * This process's environment as a user's shell would have it: without the npm_* variables that
 * `npm test` sets (npm_config_local_prefix would send the nested npm to this checkout) and
 * without NODE_OPTIONS (the test runner's loaders).
 */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === "NODE_OPTIONS" || key === "INIT_CWD" || key === "MAGICPAK_NATIVE") continue;
    env[key] = value;
  }
  env["PATH"] = [dirname(process.execPath), ...(process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(":")].join(":");
  return env;
}

function run(command: string, args: string[], cwd: string, timeoutSeconds = 600): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, env: userEnv(), encoding: "utf8", maxBuffer: 1 << 28, timeout: timeoutSeconds * 1000 });
}

const output = (r: SpawnSyncReturns<string>) => `exit ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ""}\n${r.stdout}\n${r.stderr}`.trim();

/** The installed command, run as a user runs it: from the project, with a plain PATH. */
function magicpak(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(join(app, "node_modules/.bin/magicpak"), args, {
    cwd: app,
    encoding: "utf8",
    env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: app },
    timeout: 300_000,
  });
}

let tarball: string | null = null;
let entries: string[] = [];

t.test("npm pack of a fresh copy of the sources builds dist/ and packs it", async (t) => {
  const listed = spawnSync("git", ["-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (listed.status !== 0) {
    t.fail(`git ls-files failed in ${root}: ${output(listed)} (the test copies the sources a clone would have)`);
    return;
  }
  let copied = 0;
  // (node_modules is left out also when it is a symlink, which a "node_modules/" ignore line misses.)
  for (const path of listed.stdout.split("\0").filter((p) => p !== "" && p !== "node_modules" && !p.startsWith("node_modules/"))) {
    const from = join(root, path);
    let stats;
    try {
      stats = lstatSync(from);
    } catch {
      continue; // deleted in the working tree
    }
    const to = join(source, path);
    mkdirSync(dirname(to), { recursive: true });
    if (stats.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
    else if (stats.isFile()) {
      copyFileSync(from, to);
      chmodSync(to, stats.mode & 0o7777);
      copied++;
    }
  }
  t.ok(copied > 100, `${copied} files copied`);
  t.notOk(existsSync(join(source, "dist")), "the copy has no dist/ (ignored, as in a fresh clone)");
  // The build tools (typescript, @types/node) as `npm ci` installs them.
  symlinkSync(join(root, "node_modules"), join(source, "node_modules"));
  mkdirSync(packed);
  const pack = run("npm", ["pack", "--pack-destination", packed], source);
  t.equal(pack.status, 0, `npm pack: ${output(pack)}`);
  const name = `magicpak-${version}.tgz`;
  t.ok(existsSync(join(source, "dist/lib/index.js")), "prepare built dist/");
  if (!existsSync(join(packed, name))) {
    t.fail(`npm pack wrote no ${name}`);
    return;
  }
  tarball = join(packed, name);
  const list = spawnSync("tar", ["-tzf", tarball], { encoding: "utf8", maxBuffer: 1 << 28 });
  t.equal(list.status, 0, output(list));
  entries = list.stdout.split("\n").filter((e) => e !== "" && !e.endsWith("/"));
  t.ok(
    entries.every((e) => e.startsWith("package/")),
    "every entry is under package/",
  );
  entries = entries.map((e) => e.slice("package/".length)).sort();
});

t.test("the package holds only what users need", async (t) => {
  if (!tarball) return t.fail("no tarball");
  const size = statSync(tarball).size;
  const extracted = join(scratch, "extracted");
  mkdirSync(extracted);
  const untar = spawnSync("tar", ["-xzf", tarball, "-C", extracted], { encoding: "utf8" });
  t.equal(untar.status, 0, output(untar));
  const unpacked = entries.reduce((sum, e) => sum + statSync(join(extracted, "package", e)).size, 0);
  t.comment(`${entries.length} files, ${(size / 1e6).toFixed(2)} MB packed, ${(unpacked / 1e6).toFixed(2)} MB unpacked`);

  const forbidden: [RegExp, string][] = [
    [/^test\//, "tests"],
    [/^bench\//, "benchmarks"],
    [/^dist\/(test|bench|sea)\//, "compiled tests, benchmarks or standalone binaries"],
    [/\.test\.(js|d\.ts)$/, "compiled tests"],
    [/(^|\/)fixtures(\/|$)/, "test fixtures"],
    [/(^|\/)\.(cache|tap|ci|git)(\/|$)/, "caches and CI files"],
    [/^native\//, "native addon sources or builds (native/target)"],
    [/\.node$/, "a native addon build"],
    [/^(sea|examples|scripts)\//, "build scripts and examples"],
    [/^wasm\/(build\.sh|pre\.js)$/, "WASM build sources"],
    [/(?<!\.d)\.ts$/, "TypeScript sources"],
    [/(^|\/)node_modules\//, "dependencies"],
    [/\.tgz$/, "a tarball"],
    [/^(tsconfig\.json|package-lock\.json|\.gitignore)$/, "development files"],
    [/^dist\/bin\/sea\./, "entry point of the standalone binary"],
  ];
  for (const [pattern, what] of forbidden) {
    t.same(
      entries.filter((e) => pattern.test(e)),
      [],
      `no ${what}`,
    );
  }
  // Everything is one of these: the CLI, the compiled library, the built-in UPX and its licence, the docs, the --json schema, the licence.
  const allowed = [
    /^package\.json$/,
    /^README\.md$/,
    /^LICENSE$/,
    /^docs\/api\.md$/,
    /^bin\/magicpak\.js$/,
    /^dist\/bin\/[a-z-]+\.js$/,
    /^schema\/list\.schema\.json$/,
    /^dist\/lib\/.+\.(js|d\.ts)$/,
    /^wasm\/(upx\.wasm|upx\.cjs|SHA256SUMS|README\.md)$/,
    /^wasm\/upx-license\/(LICENSE|COPYING)$/,
  ];
  t.same(
    entries.filter((e) => !allowed.some((p) => p.test(e))),
    [],
    "nothing else",
  );
  for (const needed of [
    "package.json",
    "README.md",
    "LICENSE",
    "docs/api.md",
    "bin/magicpak.js",
    "dist/bin/cli.js",
    "dist/bin/options.js",
    "schema/list.schema.json",
    "dist/lib/index.js",
    "dist/lib/index.d.ts",
    "dist/lib/compress/worker.js",
    "dist/lib/native/worker.js",
    "wasm/upx.wasm",
    "wasm/upx.cjs",
    "wasm/upx-license/LICENSE",
    "wasm/upx-license/COPYING",
  ]) {
    t.ok(entries.includes(needed), `the package has ${needed}`);
  }
  // The built-in UPX is the committed artifact, byte for byte.
  const sums = readFileSync(join(root, "wasm/SHA256SUMS"), "utf8");
  for (const line of sums.split("\n").filter((l) => l.trim() !== "")) {
    const [digest, file] = line.split(/\s+/);
    const shipped = join(extracted, "package/wasm", file!);
    t.equal(existsSync(shipped) ? createHash("sha256").update(readFileSync(shipped)).digest("hex") : "absent", digest, `wasm/${file} matches wasm/SHA256SUMS`);
  }
  t.ok(unpacked < 8e6, `unpacked size ${unpacked} bytes is below 8 MB`);
});

t.test("npm install of the tarball into an empty project", async (t) => {
  if (!tarball) return t.fail("no tarball");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "magicpak-pack-test", version: "1.0.0", private: true }, null, 2));
  // --prefer-offline: cac and micromatch come from the npm cache when they are there.
  const install = run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], app);
  t.equal(install.status, 0, `npm install: ${output(install)}`);
  t.ok(existsSync(join(installed, "package.json")), "node_modules/magicpak is installed");
  for (const dependency of ["cac", "micromatch"]) t.ok(existsSync(join(app, "node_modules", dependency, "package.json")), `with its dependency ${dependency}`);
  t.ok(existsSync(join(app, "node_modules/.bin/magicpak")), "and the magicpak command");
  t.notOk(existsSync(join(installed, "native")), "without the optional native addon");
});

/** The later steps need the installed package: one failure, not one per check. */
const notInstalled = () => !existsSync(join(app, "node_modules/.bin/magicpak"));

t.test("the installed magicpak runs without the native addon", async (t) => {
  if (notInstalled()) return t.fail("not installed");
  const r = magicpak("--version");
  t.equal(r.status, 0, output(r));
  t.match(r.stdout, new RegExp(`^magicpak ${version.replace(/\./g, "\\.")} \\(node v`));
  t.match(r.stdout, /native addon: not loaded: native\/magicpak\.[\w-]+\.node is absent/);
  t.equal(r.stderr, "");
  const help = magicpak("--help");
  t.equal(help.status, 0, output(help));
  t.match(help.stdout, /--compress/);
});

t.test("the installed magicpak bundles /bin/bash and tests it in the jail", async (t) => {
  if (notInstalled()) return t.fail("not installed");
  const out = join(app, "bash");
  const r = magicpak("/bin/bash", out, "--test", "--busybox", fixture("MAGICPAK_BUSYBOX"), "--test-command", "bash -c 'echo ok'", "--test-stdout", "ok");
  t.equal(r.status, 0, output(r));
  t.ok(statSync(join(out, "bin/bash")).isFile(), "OUTPUT has bash");
  t.same(readFileSync(join(out, "bin/bash")), readFileSync("/bin/bash"), "as it is on this machine");
  t.ok(existsSync(join(out, "lib64/ld-linux-x86-64.so.2")) || existsSync(join(out, "lib/ld-linux-aarch64.so.1")), "with its interpreter");
});

t.test("the installed magicpak compresses with the built-in UPX", async (t) => {
  if (notInstalled()) return t.fail("not installed");
  const out = join(app, "bash-upx");
  const r = magicpak("/bin/bash", out, "--compress", "--test", "--busybox", fixture("MAGICPAK_BUSYBOX"), "--test-command", "bash -c 'echo ok'", "--test-stdout", "ok");
  t.equal(r.status, 0, output(r));
  const bash = readFileSync(join(out, "bin/bash"));
  t.ok(bash.includes(Buffer.from("UPX!")), "the bundled bash is UPX-packed");
  t.ok(bash.length < statSync("/bin/bash").size, `and smaller (${bash.length} < ${statSync("/bin/bash").size} bytes)`);
});

t.test("the installed package is importable as a library, with its types", async (t) => {
  if (notInstalled()) return t.fail("not installed");
  const r = spawnSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      'import * as m from "magicpak"; console.log(JSON.stringify({ version: m.VERSION, bundle: typeof m.bundle, native: m.nativeStatus(), bash: m.readElf("/bin/bash").dynamic?.needed.length > 0 }))',
    ],
    {
      cwd: app,
      encoding: "utf8",
      env: userEnv(),
    },
  );
  t.equal(r.status, 0, output(r));
  const got = JSON.parse(r.stdout || "{}") as { version?: string; bundle?: string; native?: string; bash?: boolean };
  t.equal(got.version, version);
  t.equal(got.bundle, "function");
  t.match(got.native ?? "", /^not loaded: /);
  t.equal(got.bash, true);
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as { types?: string; exports?: Record<string, { types?: string }> };
  for (const types of [manifest.types, manifest.exports?.["."]?.types]) t.ok(types && existsSync(join(installed, types)), `${types} is in the package`);
});
