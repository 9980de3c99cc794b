// The package's manifest and what npm puts in the tarball, against the things they describe:
//   - engines.node is the highest of the floors the production dependencies, as npm installs
//     them, declare (test/pack/floor.test.ts then runs the packed package on exactly that Node);
//   - LICENSE is in the tarball and is the licence package.json names; repository, homepage,
//     bugs and os are set;
//   - every relative link in the shipped Markdown (README.md, docs/api.md) leads to a file
//     `npm pack --dry-run --json` lists, or says "(in the source repository)" right after it;
//   - `npm ci` of package-lock.json finds no package whose engines refuse this Node or the floor
//     Node (npm's own EBADENGINE check, run by `npm ci --dry-run`).

import t from "tap";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { floorNode } from "../pack/floor-node.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
interface Manifest {
  name: string;
  version: string;
  license?: string;
  engines?: { node?: string };
  repository?: { type?: string; url?: string };
  homepage?: string;
  bugs?: { url?: string };
  os?: string[];
}
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Manifest;

/** npm in this checkout, without the npm_* variables `npm test` sets. */
function npm(args: string[], cwd = root, node?: string) {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key) && key !== "NODE_OPTIONS") env[key] = value;
  const options = { cwd, env, encoding: "utf8", maxBuffer: 1 << 28, timeout: 300_000 } as const;
  if (!node) return spawnSync("npm", args, options);
  // npm's own script, run by another node (which npm: a symlink into npm's bin/).
  const npmCli = join(dirname(realpathSync(spawnSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).stdout.trim())), "npm-cli.js");
  return spawnSync(node, [npmCli, ...args], options);
}

type Version = [number, number, number];
const parse = (v: string): Version => {
  const [a = 0, b = 0, c = 0] = v.split(".").map(Number);
  return [a, b, c];
};
const compare = (x: Version, y: Version) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2];

/**
 * The lowest Node version a range admits, for the range forms dependencies use (">=20.19.0",
 * "^20.17.0 || >=22.9.0", "20 || >=22", ">= 10", "*"); null for a form this does not know.
 */
function rangeFloor(range: string): Version | null {
  let lowest: Version | null = null;
  for (const alternative of range.split("||").map((a) => a.trim())) {
    const m = /^(?:>=|\^|~)?\s*v?(\d+(?:\.\d+){0,2})(?:\.[x*])?(?:\s+<\S+)?$/.exec(alternative) ?? (alternative === "*" || alternative === "" ? ["", "0"] : null);
    if (!m) return null;
    const v = parse(m[1]!);
    if (!lowest || compare(v, lowest) < 0) lowest = v;
  }
  return lowest;
}

t.test("engines.node is the floor of the production dependencies", async (t) => {
  const listed = npm(["ls", "--omit=dev", "--all", "--parseable"]);
  t.equal(listed.status, 0, `npm ls: ${listed.stderr}`);
  const dirs = listed.stdout.split("\n").filter((d) => d !== "" && normalize(d) !== normalize(root));
  t.ok(dirs.length >= 3, `${dirs.length} installed production packages`);
  let floor: Version = [0, 0, 0];
  let from = "none";
  for (const dir of dirs) {
    const dep = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest;
    const range = dep.engines?.node;
    if (range === undefined) continue;
    const v = rangeFloor(range);
    if (!v) {
      t.fail(`${dep.name}@${dep.version}: engines.node ${JSON.stringify(range)} is a form this test does not read`);
      continue;
    }
    if (compare(v, floor) > 0) [floor, from] = [v, `${dep.name}@${dep.version} (${range})`];
  }
  t.comment(`the highest floor: ${floor.join(".")}, from ${from}`);
  t.equal(manifest.engines?.node, `>=${floor.join(".")}`, `package.json's engines.node, against ${from}`);
});

t.test("rangeFloor reads the forms npm packages use", async (t) => {
  t.same(rangeFloor(">=20.19.0"), [20, 19, 0]);
  t.same(rangeFloor("^20.17.0 || >=22.9.0"), [20, 17, 0]);
  t.same(rangeFloor("20 || >=22"), [20, 0, 0]);
  t.same(rangeFloor(">= 10"), [10, 0, 0]);
  t.same(rangeFloor(">=23.5.0 || ^22.13.0 || ^20.17.0"), [20, 17, 0]);
  t.same(rangeFloor("*"), [0, 0, 0]);
  t.equal(rangeFloor("node >= 10 (whatever)"), null);
});

let packed: string[] = [];

t.test("npm pack --dry-run lists the files the package ships", async (t) => {
  const pack = npm(["pack", "--dry-run", "--json", "--ignore-scripts"]);
  t.equal(pack.status, 0, `npm pack: ${pack.stderr}`);
  packed = (JSON.parse(pack.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  t.ok(packed.includes("package.json") && packed.includes("dist/lib/index.js"), `${packed.length} files`);
});

t.test("LICENSE ships and is the licence package.json names; the manifest says where the project lives", async (t) => {
  t.ok(packed.includes("LICENSE"), "LICENSE is in the tarball");
  t.equal(manifest.license, "MIT");
  const text = readFileSync(join(root, "LICENSE"), "utf8");
  t.match(text, /^MIT License\n\nCopyright \(c\) \d{4} \S/, "an MIT licence with a copyright line");
  t.match(text, /Permission is hereby granted, free of charge/);
  t.match(manifest.repository?.url ?? "", /^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/, "repository.url");
  const web = (manifest.repository?.url ?? "").replace(/^git\+/, "").replace(/\.git$/, "");
  t.equal(manifest.homepage, `${web}#readme`, "homepage");
  t.equal(manifest.bugs?.url, `${web}/issues`, "bugs");
  t.same(manifest.os, ["linux"], "os");
});

const REPO_ONLY = " (in the source repository)";

t.test("relative links in the shipped Markdown lead to shipped files, or say they do not", async (t) => {
  for (const doc of ["README.md", "docs/api.md"]) {
    t.ok(packed.includes(doc), `${doc} ships`);
    const text = readFileSync(join(root, doc), "utf8");
    let links = 0;
    for (const m of text.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) continue;
      links++;
      const file = normalize(join(dirname(doc), target.split("#")[0]!));
      const line = text.slice(0, m.index).split("\n").length;
      const after = text.slice(m.index! + m[0].length).replace(/\n\s*/g, " ");
      if (after.startsWith(REPO_ONLY)) t.notOk(packed.includes(file), `${doc}:${line}: ${target} is marked repository-only and is not shipped`);
      else t.ok(packed.includes(file), `${doc}:${line}: ${target} is in the package (else mark it "${REPO_ONLY.trim()}")`);
    }
    t.ok(links > 0, `${doc}: ${links} relative links`);
  }
});

t.test("the docs state the engines floor", async (t) => {
  const floor = /^>=(\d+\.\d+)\.0$/.exec(manifest.engines?.node ?? "")?.[1];
  t.ok(floor, `engines.node ${manifest.engines?.node} is >=X.Y.0`);
  t.match(readFileSync(join(root, "README.md"), "utf8"), `On a fresh machine (Node.js >= ${floor}):`, "README.md");
  t.match(readFileSync(join(root, "docs/api.md"), "utf8"), `Node.js >= ${floor}, Linux`, "docs/api.md");
});

for (const [label, node] of [
  ["this Node", undefined],
  ["the floor Node", floorNode],
] as const) {
  t.test(`npm ci on ${label}: no dependency refuses it (EBADENGINE)`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "magicpak-npm-ci-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    for (const file of ["package.json", "package-lock.json"]) copyFileSync(join(root, file), join(dir, file));
    const r = npm(["ci", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund"], dir, node?.());
    t.equal(r.status, 0, `npm ci --dry-run: ${r.stderr}`);
    const refused = [...`${r.stdout}${r.stderr}`.matchAll(/package: '([^']+)',\s*npm warn EBADENGINE\s+required: \{ node: '([^']+)'/g)].map((m) => `${m[1]} wants node ${m[2]}`);
    t.same(refused, [], "no EBADENGINE warning");
    t.notMatch(`${r.stdout}${r.stderr}`, /EBADENGINE/);
  });
}
