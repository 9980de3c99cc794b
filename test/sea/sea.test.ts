// The standalone binary (npm run build:sea, sea/build.mjs): built here when missing or older than
// the sources, then the built file is copied out of the checkout and run as a user of a Node-less
// image runs it: from a directory that holds nothing else, with a PATH where no node is, on real
// jobs, its output compared with the npm package's CLI (bin/magicpak.js) doing the same job.
// linux-arm64 is built too and runs through qemu-user, with the cross sysroot's libstdc++.

import t from "tap";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fixture } from "../support/fixtures.js";

const repo = realpathSync(new URL("../../..", import.meta.url).pathname);
const cli = join(repo, "bin/magicpak.js");
const version = (JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string }).version;

// --------------------------------------------------------------------------- build (when stale)

const started = Date.now();
const build = spawnSync("npm", ["run", "--silent", "build:sea", "--", "--arch", "all", "--if-stale"], { cwd: repo, encoding: "utf8" });
const buildSeconds = (Date.now() - started) / 1000;
const built = (arch: string) => join(repo, `dist/sea/magicpak-linux-${arch}`);

t.test("npm run build:sea builds linux-x64 and linux-arm64 (or finds them up to date)", async (t) => {
  t.equal(build.status, 0, `npm run build:sea: ${build.stderr}`);
  t.comment(
    `build:sea took ${buildSeconds.toFixed(1)} s: ${build.stderr
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("[build:sea]"))
      .join("; ")}`,
  );
  t.ok(buildSeconds < 120, "in well under two minutes");
  for (const arch of ["x64", "arm64"]) {
    t.ok(existsSync(built(arch)), `dist/sea/magicpak-linux-${arch} exists`);
    if (!existsSync(built(arch))) continue;
    const head = readFileSync(built(arch)).subarray(0, 20);
    t.same([...head.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], "an ELF file");
    t.equal(head.readUInt16LE(18), arch === "x64" ? 62 : 183, `for ${arch === "x64" ? "EM_X86_64" : "EM_AARCH64"}`);
    t.comment(`magicpak-linux-${arch}: ${statSync(built(arch)).size} bytes`);
  }
});

// --------------------------------------------------------------------------- a place without node

// Outside the checkout, so that nothing of the package can be found beside the executable.
const dir = mkdtempSync(join(tmpdir(), "magicpak-sea-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const exe = join(dir, "magicpak");
if (existsSync(built("x64"))) copyFileSync(built("x64"), exe);
// A PATH with nothing in it: the executable needs no node, and --test gets busybox by --busybox.
const emptyBin = join(dir, "bin");
mkdirSync(emptyBin);
const env = { PATH: emptyBin, HOME: dir };
const busybox = fixture("MAGICPAK_BUSYBOX");

function sea(args: string[], options: { cwd?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(exe, args, { cwd: options.cwd ?? dir, env, encoding: "utf8", timeout: 300_000 });
}
function npmCli(args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [cli, ...args], { cwd: dir, env, encoding: "utf8", timeout: 300_000 });
}

/** Every entry below `root`: type, mode, and content hash or link target (not times). */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (path: string) => {
    const st = lstatSync(path);
    const name = relative(root, path) || ".";
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out.push(`${name} -> ${readlinkSync(path)}`);
    else if (st.isDirectory()) {
      out.push(`${name}/ ${mode}`);
      for (const e of readdirSync(path).sort()) walk(join(path, e));
    } else out.push(`${name} ${mode} ${createHash("sha256").update(readFileSync(path)).digest("hex")}`);
  };
  walk(root);
  return out;
}

const isUpxPacked = (file: string) => readFileSync(file).includes("UPX!");

t.test("the copied executable runs where no node is on PATH and no package file is beside it", async (t) => {
  t.notOk(existsSync(join(emptyBin, "node")));
  t.ok(relative(repo, dir).startsWith("../"), `${dir} is outside the checkout`);
  t.same(readdirSync(dir).sort(), ["bin", "magicpak"], "nothing but the executable (and an empty bin/)");
});

t.test("--version: the same first line as the npm package's CLI; the native addon is not loaded", async (t) => {
  const r = sea(["--version"]);
  const n = npmCli(["--version"]);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, "");
  const [first, second] = r.stdout.trimEnd().split("\n");
  t.equal(first, n.stdout.split("\n")[0], "same version, node and platform");
  t.equal(first, `magicpak ${version} (node ${process.version}, linux-x64)`);
  t.equal(second, "native addon: not loaded: the standalone binary does not embed it (the npm package can build and load it)");
});

t.test("--list /usr/bin/ssh: the same output and status as the npm package's CLI", async (t) => {
  const r = sea(["--list", "/usr/bin/ssh"]);
  const n = npmCli(["--list", "/usr/bin/ssh"]);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.status, n.status);
  t.equal(r.stdout, n.stdout);
  t.equal(r.stderr, n.stderr);
  t.match(r.stdout, /libc\.so\.6 => /);
  // And --tree, --json, a usage error.
  for (const args of [["--tree", "/usr/bin/ssh"], ["--json", "/bin/ls"], ["--no-such-option"]]) {
    const a = sea(args);
    const b = npmCli(args);
    t.same([a.status, a.stdout, a.stderr], [b.status, b.stdout, b.stderr], `magicpak ${args.join(" ")}`);
  }
});

t.test("a real job: bundle bash and ls with --compress and --test in the jail (busybox), as the npm CLI does", async (t) => {
  // GNU ls, not busybox's applet: the bundled program wins in the jail.
  const lsVersion = spawnSync("/usr/bin/ls", ["--version"], { encoding: "utf8" }).stdout.split("\n")[0];
  const args = (out: string) => [
    "/bin/bash",
    "/usr/bin/ls",
    out,
    "--compress",
    "--test",
    "--busybox",
    busybox,
    "--test-command",
    "bash -c 'echo $((6 * 7))' && ls --version | head -n 1",
    "--test-stdout",
    `42\n${lsVersion}`,
  ];
  const start = Date.now();
  const r = sea(args(join(dir, "out-sea")));
  t.comment(`the standalone binary bundled, compressed and tested in ${((Date.now() - start) / 1000).toFixed(1)} s`);
  t.equal(r.status, 0, "status 0");
  if (r.status !== 0) t.comment(r.stderr);
  t.equal(r.stdout, "");
  const bash = join(dir, "out-sea", realpathSync("/bin/bash"));
  const ls = join(dir, "out-sea", realpathSync("/usr/bin/ls"));
  t.ok(isUpxPacked(bash) && isUpxPacked(ls), "bash and ls are packed by UPX");
  t.ok(statSync(bash).size < statSync("/bin/bash").size * 0.7, "and smaller");
  t.notOk(isUpxPacked(join(dir, "out-sea/lib/x86_64-linux-gnu/libc.so.6")), "libraries are not packed");
  const n = npmCli(args(join(dir, "out-npm")));
  t.equal(n.status, 0, n.stderr);
  t.same(tree(join(dir, "out-sea")), tree(join(dir, "out-npm")), "the same tree, byte for byte, as the npm package's CLI");
});

t.test("UPX errors through the standalone binary's worker threads: one line naming the file, no OUTPUT", async (t) => {
  const r = sea(["--compress", "/bin/sh", join(dir, "no-output"), "--upx-arg", "--no-such-upx-option"]);
  const n = npmCli(["--compress", "/bin/sh", join(dir, "no-output-npm"), "--upx-arg", "--no-such-upx-option"]);
  t.not(r.status, 0);
  t.same([r.status, r.stderr.replace(/no-output/g, "X")], [n.status, n.stderr.replace(/no-output-npm/g, "X")], "the same failure as the npm CLI");
  t.match(r.stderr, /^error: .*\n$/, "one line");
  t.notOk(existsSync(join(dir, "no-output")), "no OUTPUT");
});

t.test("the standalone binary in an image with no node: bundled by itself, it runs in the jail (only the bundle and busybox)", async (t) => {
  const out = join(dir, "out-self");
  const command = `magicpak --version | head -n 1 && magicpak --list /usr/local/bin/magicpak | grep -c 'libstdc++.so.6 => '`;
  const r = sea([
    exe,
    out,
    "--install-to",
    "/usr/local/bin/",
    "--test",
    "--busybox",
    busybox,
    "--test-command",
    command,
    "--test-stdout",
    `magicpak ${version} (node ${process.version}, linux-x64)\n1`,
  ]);
  t.equal(r.status, 0, "it ran in the jail");
  if (r.status !== 0) t.comment(r.stderr);
  t.ok(existsSync(join(out, "usr/local/bin/magicpak")));
  t.notOk(
    tree(out).some((line) => /(^|\/)node( |$)/.test(line)),
    "no node in the image",
  );
  rmSync(out, { recursive: true, force: true });
});

// --------------------------------------------------------------------------- linux-arm64 under qemu-user

t.test("linux-arm64 through qemu-user: --version, --list and --compress as the npm CLI on the arm64 root", async (t) => {
  if (!existsSync(built("arm64"))) return t.fail("dist/sea/magicpak-linux-arm64 was not built");
  const qemu = fixture("MAGICPAK_QEMU_AARCH64");
  const arm64Root = fixture("MAGICPAK_ARM64_ROOT");
  // The arm64 root of the conformance suite has no libstdc++; the cross toolchain's sysroot has.
  const sysroot = join(fixture("MAGICPAK_CROSS_SYSROOT"), "usr/aarch64-linux-gnu");
  const exe64 = join(dir, "magicpak-arm64");
  copyFileSync(built("arm64"), exe64);
  const arm = (args: string[]) => spawnSync(qemu, ["-L", sysroot, "-E", `LD_LIBRARY_PATH=${sysroot}/lib`, exe64, ...args], { cwd: dir, env, encoding: "utf8", timeout: 600_000 });

  const v = arm(["--version"]);
  t.equal(v.status, 0, v.stderr);
  t.equal(v.stdout.split("\n")[0], `magicpak ${version} (node ${process.version}, linux-arm64)`);
  t.match(v.stdout, /native addon: not loaded: the standalone binary does not embed it/);

  const list = ["--list", "--root", arm64Root, "/usr/bin/ssh"];
  const l = arm(list);
  const ln = npmCli(list);
  t.same([l.status, l.stdout, l.stderr], [ln.status, ln.stdout, ln.stderr], "--list --root ARM64 /usr/bin/ssh: the same as the npm CLI");
  t.match(l.stdout, /libc\.so\.6 => \/lib\/aarch64-linux-gnu\/libc\.so\.6/);

  const job = (out: string) => ["--root", arm64Root, "/usr/bin/bash", out, "--compress"];
  const c = arm(job(join(dir, "arm-sea")));
  t.equal(c.status, 0, c.stderr);
  t.equal(npmCli(job(join(dir, "arm-npm"))).status, 0);
  t.ok(isUpxPacked(join(dir, "arm-sea/usr/bin/bash")), "bash (arm64) is packed");
  t.same(tree(join(dir, "arm-sea")), tree(join(dir, "arm-npm")), "the same tree, byte for byte, as the npm package's CLI");
});
