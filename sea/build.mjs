#!/usr/bin/env node
// npm run build:sea [-- --arch x64|arm64|all] [--if-stale]
//
// Builds the standalone magicpak: one executable file per architecture, dist/sea/magicpak-linux-<arch>,
// that runs with no Node.js installed (any glibc Linux with libstdc++, as the official node binary).
// It is Node's single executable application (SEA):
//
//   1. esbuild bundles bin/sea.ts (the CLI, from the TypeScript sources) into one CommonJS script,
//      as SEA requires; import.meta.url becomes the executable's file URL and the version is set
//      at build time (there is no package.json beside the executable).
//   2. esbuild bundles lib/compress/worker.ts the same way: the UPX worker thread's code, run with
//      new Worker(code, { eval: true }) because a worker cannot load a file from inside the executable.
//   3. node --experimental-sea-config writes the preparation blob: the script and the assets
//      upx.wasm, upx.cjs (the built-in UPX, wasm/) and upx-worker.js (lib/sea.ts reads them).
//   4. The node binary is copied, stripped of its debug information and symbols (strip, when
//      present) and postject injects the blob. The host's architecture uses the node that runs
//      this script; the other one (or a host node without the SEA fuse) node-linux-<arch> of the
//      same version from the npm registry (npm pack, cached in ~/.cache/magicpak-sea). The blob holds no code cache and no snapshot, so one blob
//      serves both architectures.
//
// The optional native addon is not embedded: `magicpak --version` says so, --dynamic uses strace.
// --if-stale: do nothing when the output is newer than every source, wasm/ file and the node binary.

import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "dist/sea");
const FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const ARCHES = ["x64", "arm64"];

function usage(message) {
  console.error(`build:sea: ${message}\nusage: npm run build:sea [-- --arch x64|arm64|all] [--if-stale]`);
  process.exit(2);
}

const args = process.argv.slice(2);
let arches = ARCHES.includes(process.arch) ? [process.arch] : [];
let ifStale = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--if-stale") ifStale = true;
  else if (a === "--arch" || a.startsWith("--arch=")) {
    const v = a === "--arch" ? args[++i] : a.slice("--arch=".length);
    if (v === "all") arches = ARCHES;
    else if (ARCHES.includes(v)) arches = [v];
    else usage(`unknown --arch ${JSON.stringify(v)}`);
  } else usage(`unknown argument ${JSON.stringify(a)}`);
}
if (process.platform !== "linux") usage(`builds on linux only (this is ${process.platform})`);
if (arches.length === 0) usage(`no standalone binary for ${process.arch}: give --arch x64 or arm64`);
// sea-config.json's assets are read from Node 20.12 on.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 20 || (major === 20 && minor < 12)) usage(`needs Node.js 20.12 or later for the executable's assets (this is ${process.version})`);

const started = Date.now();
const say = (text) => console.error(`[build:sea] ${text}`);
const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

/** The newest modification time among the inputs of the executable (and the node that makes the blob). */
function newestInput(nodeBinary) {
  let newest = 0;
  const visit = (path) => {
    const st = statSync(path);
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
    else if (path === nodeBinary || /\.(ts|cjs|mjs|js|json|wasm)$/.test(path)) newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of ["lib", "bin", "sea", "wasm/upx.wasm", "wasm/upx.cjs", "package.json", "package-lock.json"]) visit(join(root, p));
  if (nodeBinary && existsSync(nodeBinary)) visit(nodeBinary);
  return newest;
}

const hasFuse = (binary) => readFileSync(binary).includes(FUSE);

/**
 * A node binary of this version for `arch`: this one (when it can become a SEA: a node built with
 * a shared libnode, as some distributions ship, has no fuse), else node-linux-<arch> from the npm
 * registry.
 */
function nodeBinaryFor(arch) {
  if (arch === process.arch && hasFuse(process.execPath)) return process.execPath;
  const version = process.versions.node;
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "magicpak-sea", `node-linux-${arch}-${version}`);
  const binary = join(cache, "package/bin/node");
  if (existsSync(binary)) return binary;
  say(`fetching node-linux-${arch}@${version} from the npm registry (npm pack)`);
  rmSync(cache, { recursive: true, force: true });
  mkdirSync(cache, { recursive: true });
  const pack = spawnSync("npm", ["pack", "--silent", `node-linux-${arch}@${version}`], { cwd: cache, encoding: "utf8" });
  const tarball = pack.stdout?.trim().split("\n").at(-1);
  if (pack.status !== 0 || !tarball) throw new Error(`npm pack node-linux-${arch}@${version} failed: ${pack.stderr?.trim() || pack.error?.message}`);
  run("tar", ["-xzf", join(cache, tarball), "-C", cache]);
  rmSync(join(cache, tarball));
  if (!existsSync(binary)) throw new Error(`node-linux-${arch}@${version} has no package/bin/node`);
  return binary;
}

/** A strip that knows `arch`'s ELF files: binutils' for the host or the cross target, else llvm-strip. */
const STRIPS = { x64: ["x86_64-linux-gnu-strip", "llvm-strip"], arm64: ["aarch64-linux-gnu-strip", "llvm-strip"] };
function stripFor(arch) {
  const candidates = arch === process.arch ? ["strip", ...STRIPS[arch]] : STRIPS[arch];
  return candidates.find((c) => spawnSync(c, ["--version"], { stdio: "ignore" }).status === 0);
}

function run(command, argv, options = {}) {
  const r = spawnSync(command, argv, { encoding: "utf8", ...options });
  if (r.status !== 0) throw new Error(`${command} ${argv.join(" ")} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout ?? ""}${r.stderr ?? ""}`);
  return r;
}

async function bundle(esbuild, entry, outfile, version) {
  await esbuild.build({
    entryPoints: [join(root, entry)],
    outfile,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: `node${process.versions.node.split(".")[0]}`,
    // The package's own file URLs (lib/compress/wasm.ts, lib/native/addon.ts) resolve against the
    // executable; nothing is read through them in the standalone binary (lib/sea.ts).
    define: { "import.meta.url": "__magicpak_import_meta_url", MAGICPAK_BUNDLED_VERSION: JSON.stringify(version) },
    banner: { js: 'var __magicpak_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    legalComments: "none",
    logLevel: "warning",
  });
}

async function main() {
  let outputs = arches.map((arch) => ({ arch, output: join(outDir, `magicpak-linux-${arch}`) }));
  if (ifStale) {
    // The blob comes from this node for either architecture.
    const newest = newestInput(process.execPath);
    const fresh = outputs.filter(({ output }) => existsSync(output) && statSync(output).mtimeMs >= newest);
    if (fresh.length > 0) say(`up to date: ${fresh.map((o) => relative(root, o.output)).join(", ")}`);
    outputs = outputs.filter((o) => !fresh.includes(o));
    if (outputs.length === 0) return;
  }

  const esbuild = await import("esbuild");
  const postject = join(root, "node_modules/postject/dist/cli.js");
  if (!existsSync(postject)) throw new Error("postject is not installed: run npm install (it is a devDependency)");
  const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(outDir, "work-"));
  try {
    await buildInto(work, outputs, esbuild, postject, version);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function buildInto(work, outputs, esbuild, postject, version) {
  // 1-2. The program and the UPX worker, each one CommonJS script.
  const mainScript = join(work, "magicpak.cjs");
  const workerScript = join(work, "upx-worker.js");
  await Promise.all([bundle(esbuild, "bin/sea.ts", mainScript, version), bundle(esbuild, "lib/compress/worker.ts", workerScript, version)]);
  say(`bundled bin/sea.ts (${statSync(mainScript).size} bytes) and lib/compress/worker.ts (${statSync(workerScript).size} bytes), ${seconds()}`);

  // 3. The blob: asset keys as lib/sea.ts's SEA_ASSETS.
  const blob = join(work, "sea-prep.blob");
  const config = {
    // Relative to work (the cwd): the blob keeps this name, so it must not be the random directory's.
    main: "magicpak.cjs",
    output: "sea-prep.blob",
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: false,
    assets: {
      "upx.wasm": join(root, "wasm/upx.wasm"),
      "upx.cjs": join(root, "wasm/upx.cjs"),
      "upx-worker.js": workerScript,
    },
  };
  writeFileSync(join(work, "sea-config.json"), `${JSON.stringify(config, null, 2)}\n`);
  run(process.execPath, ["--experimental-sea-config", join(work, "sea-config.json")], { cwd: work });

  // 4. Into a copy of node, per architecture; renamed into place when complete.
  for (const { arch, output } of outputs) {
    const node = nodeBinaryFor(arch);
    if (!hasFuse(node)) throw new Error(`${node} has no SEA fuse (${FUSE}): it cannot become a single executable application (a node built with a shared libnode?)`);
    const temp = join(work, `magicpak-linux-${arch}`);
    copyFileSync(node, temp);
    chmodSync(temp, 0o755);
    const strip = stripFor(arch);
    if (strip) run(strip, [temp]);
    else say(`no strip for ${arch} on PATH (${STRIPS[arch].join(", ")}): the executable keeps node's debug information and symbols`);
    // postject's CLI (its LIEF prints harmless warnings about node's notes: shown only on failure).
    run(process.execPath, [postject, temp, "NODE_SEA_BLOB", blob, "--sentinel-fuse", FUSE]);
    renameSync(temp, output);
    say(`${relative(root, output)}: ${(statSync(output).size / 1e6).toFixed(1)} MB (node ${process.version} linux-${arch}), ${seconds()}`);
  }
}

main().catch((error) => {
  console.error(`build:sea: ${error.message}`);
  process.exitCode = 1;
});
