// --test inside a real `podman build` (issue 11): podman 4.3 and runc from Debian, with podman's
// DEFAULT capabilities and seccomp profile (no --cap-add, --privileged or --security-opt anywhere
// here), builds
//   (a) README.md's standalone-binary Dockerfile, read from README.md, with dist/sea/magicpak-linux-x64;
//   (b) examples/jq/Dockerfile, with the tarball `npm pack` makes of this checkout.
// Both run `magicpak ... --test` in a RUN step of the builder stage. The final images are run with
// podman run; the expected output is the same program's in the builder stage's image. The final
// image's filesystem (podman export) must be exactly the builder's /bundle: no busybox, no /tmp.
// Base images are local, never pulled (scripts/provision-podman.sh): debian:bookworm from
// mmdebstrap, and a stand-in for node:20-bookworm-slim made of it and this host's node.
// Everything the test creates (images, intermediate layers, containers, temp dirs) is removed.

import t, { type Test } from "tap";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { cacheDir } from "../support/fixtures.js";
import { buildFailure, imageIds, podman, provisionedPodman, removeCreated, type Podman } from "../support/podman.js";

const repo = realpathSync(new URL("../../..", import.meta.url).pathname);
const version = (JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string }).version;
const work = mkdtempSync(join(tmpdir(), "magicpak-podman-"));
const found = provisionedPodman();
const engine: Podman | null = typeof found === "string" ? null : found;
const tag = `localhost/magicpak-test-${randomBytes(4).toString("hex")}`;
const containers: string[] = [];
let before: Set<string> | null = null;
const BUILD_TIMEOUT = 900_000;

/** Images, containers and the temp dir; idempotent (the last test, and teardown after a crash). */
let cleaned: Promise<string[]> | null = null;
function cleanUp(): Promise<string[]> {
  cleaned ??= (async () => {
    try {
      return engine && before ? await removeCreated(engine, containers, before) : [];
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  })();
  return cleaned;
}
t.teardown(async () => {
  await cleanUp();
});

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** This process's environment as a user's shell has it: no npm_* of `npm test`, no test runner's NODE_OPTIONS. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === "NODE_OPTIONS" || key === "INIT_CWD") continue;
    env[key] = value;
  }
  return env;
}

// Capability numbers (linux/capability.h), to name what the build's RUN steps have.
const CAPS = [
  "chown",
  "dac_override",
  "dac_read_search",
  "fowner",
  "fsetid",
  "kill",
  "setgid",
  "setuid",
  "setpcap",
  "linux_immutable",
  "net_bind_service",
  "net_broadcast",
  "net_admin",
  "net_raw",
  "ipc_lock",
  "ipc_owner",
  "sys_module",
  "sys_rawio",
  "sys_chroot",
  "sys_ptrace",
  "sys_pacct",
  "sys_admin",
  "sys_boot",
  "sys_nice",
  "sys_resource",
  "sys_time",
  "sys_tty_config",
  "mknod",
  "lease",
  "audit_write",
  "audit_control",
  "setfcap",
  "mac_override",
  "mac_admin",
  "syslog",
  "wake_alarm",
  "block_suspend",
  "audit_read",
  "perfmon",
  "bpf",
  "checkpoint_restore",
];
const capNames = (mask: bigint) => CAPS.filter((_, i) => (mask >> BigInt(i)) & 1n);

t.test("podman with runc, in the private configuration of scripts/provision-podman.sh", async (t) => {
  if (!engine) return t.fail(`no container engine: ${found as string}`);
  const info = await podman(engine, ["info", "--format", "json"]);
  t.equal(info.status, 0, `podman info: ${info.stderr}`);
  if (info.status !== 0) return;
  const i = JSON.parse(info.stdout) as {
    host: { ociRuntime: { name: string; version: string }; cgroupManager: string };
    store: { graphDriverName: string; graphRoot: string };
    version: { Version: string };
  };
  t.equal(i.host.ociRuntime.name, "runc", "the OCI runtime is runc");
  t.equal(i.host.cgroupManager, "cgroupfs");
  t.equal(i.store.graphDriverName, "overlay", "overlay storage");
  t.ok(i.store.graphRoot.startsWith(join(cacheDir(), "podman") + "/"), `the store ${i.store.graphRoot} is the tests' own, in the fixture cache`);
  t.comment(`podman ${i.version.Version}, ${i.host.ociRuntime.version.split("\n")[0]}; provisioning: ${process.env["MAGICPAK_PODMAN_PROVISION"] ?? "(not run by test/run.js)"}`);
  for (const image of [engine.baseImage, engine.nodeImage]) {
    const exists = await podman(engine, ["image", "exists", image]);
    t.equal(exists.status, 0, `${image} is in the store`);
  }
  before = await imageIds(engine);
});

t.test("the build's RUN steps have podman's default capabilities (no CAP_SYS_ADMIN) and seccomp filter", async (t) => {
  if (!engine || !before) return t.fail("no container engine");
  const ctx = join(work, "caps");
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), `FROM ${engine.baseImage}\nRUN grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status\n`);
  const r = await podman(engine, ["build", "--pull=never", "--no-cache", "-t", `${tag}-caps`, ctx], { timeoutMs: BUILD_TIMEOUT });
  const log = r.stdout + r.stderr;
  t.equal(r.status, 0, `podman build: ${buildFailure(log)}`);
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)$`, "m").exec(log)?.[1];
  const effective = BigInt(`0x${field("CapEff") ?? "0"}`);
  t.ok(field("CapEff"), "CapEff is in the build's output");
  t.notOk((effective >> 21n) & 1n, "no CAP_SYS_ADMIN");
  t.equal(field("Seccomp"), "2", "a seccomp filter (mode 2)");
  t.comment(`RUN steps' capabilities: ${capNames(effective).join(", ")}; NoNewPrivs ${field("NoNewPrivs")}`);

  // What --test leaves the program (lib/capabilities.ts) must be within what a container of the
  // image gets by default, or --test would pass programs that need more than the image has.
  const { CONTAINER_CAPABILITIES } = await import("../../lib/capabilities.js");
  const jail = CONTAINER_CAPABILITIES.reduce((m, [, n]) => m | (1n << BigInt(n)), 0n);
  const run = await podman(engine, ["run", "--rm", "--network=none", engine.baseImage, "grep", "^CapEff:", "/proc/self/status"]);
  t.equal(run.status, 0, run.stderr);
  const container = BigInt(`0x${/^CapEff:\s*(\S+)$/m.exec(run.stdout)?.[1] ?? "0"}`);
  t.comment(`podman run's capabilities: ${capNames(container).join(", ")}`);
  t.equal(jail & ~container, 0n, `the jail's ${capNames(jail).join(", ")} are all in podman run's default set`);
  t.equal(jail & ~effective, 0n, "and in the build's RUN steps'");
});

interface Check {
  /** Arguments of the final image's ENTRYPOINT (podman run IMAGE ...ARGS). */
  args: string[];
  /** The same job in the builder stage's image: sh -c COMMAND. */
  reference: string;
  stdin?: string;
  /** A literal the output must also be (the Dockerfile's own --test-stdout). */
  expected?: string;
}

/**
 * podman build of the builder stage (fresh: magicpak's --test runs in it), then of the whole
 * Dockerfile (the builder from the cache); the final image's ENTRYPOINT against the builder's
 * program; the image's filesystem against the builder's /bundle.
 */
async function buildAndCheck(t: Test, engine: Podman, name: string, ctx: string, checks: Check[]): Promise<{ root: string } | null> {
  const builder = `${tag}-${name}-build`;
  const image = `${tag}-${name}`;
  let started = Date.now();
  const b = await podman(engine, ["build", "--pull=never", "--no-cache", "--target", "build", "-t", builder, ctx], { timeoutMs: BUILD_TIMEOUT });
  const log = b.stdout + b.stderr;
  t.comment(`${name}: podman build --target build (apt-get, magicpak --test) took ${seconds(Date.now() - started)}`);
  t.match(log, /STEP \d+\/\d+: RUN (npx )?magicpak .*--test/, "the builder stage runs magicpak --test");
  for (const line of log.split("\n").filter((l) => /^\s*(WARN|INFO the test passed)/.test(l))) t.comment(`${name}: magicpak: ${line.trim()}`);
  if (b.status !== 0) {
    t.fail(`podman build of the builder stage failed: ${buildFailure(log)}`);
    const tail = log
      .split(/[\r\n]+/)
      .filter((l) => l.trim() !== "")
      .slice(-20);
    for (const line of tail) t.comment(`${name}: build: ${line}`);
    return null;
  }
  started = Date.now();
  const f = await podman(engine, ["build", "--pull=never", "-t", image, ctx], { timeoutMs: BUILD_TIMEOUT });
  t.equal(f.status, 0, `podman build of the final stage: ${buildFailure(f.stdout + f.stderr)}`);
  if (f.status !== 0) return null;
  t.comment(`${name}: podman build of the FROM scratch stage took ${seconds(Date.now() - started)}`);

  for (const check of checks) {
    const run = await podman(engine, ["run", "--rm", "-i", "--network=none", image, ...check.args], { stdin: check.stdin });
    const ref = await podman(engine, ["run", "--rm", "-i", "--network=none", builder, "sh", "-c", check.reference], { stdin: check.stdin });
    t.equal(ref.status, 0, `builder: ${check.reference}: ${ref.stderr}`);
    t.equal(run.status, 0, `podman run ${name} ${check.args.join(" ")}: ${run.stderr}`);
    t.not(run.stdout.trim(), "", "it prints something");
    t.equal(run.stdout, ref.stdout, `podman run ${name} ${check.args.join(" ")}: the same output as ${check.reference} in the builder`);
    if (check.expected !== undefined) t.equal(run.stdout.trim(), check.expected, "the Dockerfile's --test-stdout");
  }

  // The image's filesystem, as podman exports a container of it, against the builder's /bundle.
  const created = await podman(engine, ["create", image]);
  t.equal(created.status, 0, `podman create: ${created.stderr}`);
  if (created.status !== 0) return null;
  const id = created.stdout.trim();
  containers.push(id);
  const tar = join(work, `${name}.tar`);
  const exported = await podman(engine, ["export", "-o", tar, id]);
  t.equal(exported.status, 0, `podman export: ${exported.stderr}`);
  const root = join(work, `${name}-rootfs`);
  mkdirSync(root);
  const untar = spawnSync("tar", ["-xf", tar, "-C", root], { encoding: "utf8" });
  t.equal(untar.status, 0, `tar -xf: ${untar.stderr}`);
  const entries = walk(root);
  const bundle = await podman(engine, ["run", "--rm", "--network=none", builder, "sh", "-c", "cd /bundle && find . -mindepth 1 | sort"]);
  t.equal(bundle.status, 0, bundle.stderr);
  const bundled = bundle.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.replace(/^\.\//, ""))
    .sort();
  t.same(entries, bundled, "the image holds exactly the builder's /bundle");
  t.same(
    entries.filter((e) => /busybox/i.test(e)),
    [],
    "no busybox in the image",
  );
  t.same(
    entries.filter((e) => /(^|\/)\.magicpak/.test(e)),
    [],
    "no harness directory",
  );
  t.same(
    entries.filter((e) => e === "tmp" || e === "var/tmp"),
    [],
    "no /tmp",
  );
  t.comment(`${name}: the image has ${entries.length} entries`);
  return { root };
}

/** Paths below `root`, relative, sorted (symlinks not followed). */
function walk(root: string): string[] {
  const out: string[] = [];
  const visit = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const path = join(dir, e);
      out.push(relative(root, path));
      if (lstatSync(path).isDirectory()) visit(path);
    }
  };
  visit(root);
  return out.sort();
}

/** The first ```dockerfile block after `heading` in README.md. */
function readmeDockerfile(heading: string): string | null {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  const at = readme.indexOf(heading);
  if (at < 0) return null;
  const m = /```dockerfile\n([\s\S]*?)```/.exec(readme.slice(at));
  return m ? m[1]! : null;
}

t.test("README.md's standalone-binary Dockerfile: podman build runs magicpak --compress --test, podman run runs jq", async (t) => {
  if (!engine || !before) return t.fail("no container engine");
  const dockerfile = readmeDockerfile("**Standalone binary in any image**");
  if (!dockerfile) return t.fail("README.md has no ```dockerfile block after **Standalone binary in any image**");
  t.match(dockerfile, /^ADD magicpak-linux-x64 /m, "it ADDs the standalone binary");
  t.match(dockerfile, /^FROM scratch$/m, "its final stage is FROM scratch");
  const started = Date.now();
  const sea = spawnSync("npm", ["run", "--silent", "build:sea", "--", "--if-stale"], { cwd: repo, encoding: "utf8", env: userEnv(), timeout: 600_000 });
  t.equal(sea.status, 0, `npm run build:sea: ${sea.stderr}`);
  const binary = join(repo, "dist/sea/magicpak-linux-x64");
  if (!existsSync(binary)) return t.fail(`${binary} was not built`);
  t.comment(`npm run build:sea -- --if-stale: ${seconds(Date.now() - started)}`);
  const ctx = join(work, "readme");
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), dockerfile);
  copyFileSync(binary, join(ctx, "magicpak-linux-x64"));
  const doc = '{"a":[1,2],"b":"magicpak"}';
  const built = await buildAndCheck(t, engine, "readme", ctx, [
    { args: ["--version"], reference: "jq --version" },
    { args: ["-c", ".a"], reference: "jq -c .a", stdin: doc },
  ]);
  if (!built) return;
  const jq = join(built.root, "usr/bin/jq");
  t.ok(existsSync(jq) && readFileSync(jq).includes("UPX!"), "jq in the image is packed by UPX (--compress)");
});

t.test("examples/jq/Dockerfile with the tarball of npm pack: podman build runs npx magicpak --test, podman run runs jq", async (t) => {
  if (!engine || !before) return t.fail("no container engine");
  const dockerfile = readFileSync(join(repo, "examples/jq/Dockerfile"), "utf8");
  const tarball = `magicpak-${version}.tgz`;
  t.match(dockerfile, new RegExp(`^COPY ${tarball.replace(/\./g, "\\.")} \\./$`, "m"), `it COPYs ${tarball}, this package's version`);
  t.match(dockerfile, new RegExp(`^RUN npm install -g \\./${tarball.replace(/\./g, "\\.")}$`, "m"), "and installs it with npm install -g");
  const ctx = join(work, "jq");
  mkdirSync(ctx);
  const started = Date.now();
  // The current build (npm test builds first), as `npm pack` would make it with its prepare script.
  const pack = spawnSync("npm", ["pack", "--ignore-scripts", "--pack-destination", ctx], { cwd: repo, encoding: "utf8", env: userEnv(), timeout: 300_000 });
  t.equal(pack.status, 0, `npm pack: ${pack.stderr}`);
  t.equal(pack.stdout.trim().split("\n").pop(), tarball);
  if (!existsSync(join(ctx, tarball))) return t.fail(`npm pack wrote no ${tarball}`);
  t.comment(`npm pack: ${seconds(Date.now() - started)}`);
  writeFileSync(join(ctx, "Dockerfile"), dockerfile);
  const testStdin = /--test-stdin '([^']*)'/.exec(dockerfile)?.[1];
  const testStdout = /--test-stdout '([^']*)'/.exec(dockerfile)?.[1];
  t.ok(testStdin && testStdout, "the Dockerfile's --test-stdin and --test-stdout");
  await buildAndCheck(t, engine, "jq", ctx, [
    // ENTRYPOINT ["/bin/jq"] with its CMD ["-c", "."].
    { args: [], reference: "jq -c .", stdin: testStdin },
    { args: ["-c", ".a"], reference: "jq -c .a", stdin: testStdin, expected: testStdout },
  ]);
});

t.test("nothing is left: the test's images, intermediate layers, containers and temp dir are removed", async (t) => {
  const problems = await cleanUp();
  t.same(problems, [], "podman rm and rmi of everything the test created");
  t.notOk(existsSync(work), `${work} is removed`);
  if (engine && before) {
    const after = await imageIds(engine);
    t.same(
      [...after].filter((id) => !before!.has(id)),
      [],
      "no image the test created is in the store",
    );
    const ps = await podman(engine, ["ps", "--all", "--quiet"]);
    t.same(
      ps.stdout.split("\n").filter((l) => l !== "" && containers.some((c) => c.startsWith(l))),
      [],
      "no container of the test",
    );
  }
});
