// magicpak's command line for bundling: every option, its value forms, exit codes and messages.

import t from "tap";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addLibrary, addProgram, makeMiniRoot } from "../support/mini-root.js";
import { fixture } from "../support/fixtures.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "magicpak-cli-e2e-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;
const fresh = () => join(scratch, `out-${++counter}`);

const root = makeMiniRoot();
t.teardown(() => rmSync(root.dir, { recursive: true, force: true }));
addLibrary(root, "foo");
addProgram(root, "prog", ["foo"]);
addProgram(root, "other", []);

let busybox = "";
try {
  busybox = fixture("MAGICPAK_BUSYBOX");
} catch (error) {
  t.fail((error as Error).message);
}

function magicpak(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test("the basic form, options after the positionals, exit 0", async (t) => {
  const out = fresh();
  const r = magicpak("/usr/bin/prog", out, "--root", root.dir);
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(join(out, "usr/bin/prog")));
  t.equal(r.stderr, "", "quiet at the default level (Warn)");
});

t.test("-i/--include, -e/--exclude, --mkdir, -r/--install-to are repeatable or single as in magicpak", async (t) => {
  const out = fresh();
  const r = magicpak(
    "--root",
    root.dir,
    "-i",
    "/usr/bin/other",
    "--include",
    "/etc",
    "-e",
    "/usr/lib/x86_64-linux-gnu/libfoo.so.1.0",
    "--exclude",
    "/etc",
    "--mkdir",
    "/tmp",
    "--mkdir",
    "/data",
    "-r",
    "/app/",
    "/usr/bin/prog",
    out,
  );
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(join(out, "usr/bin/other")));
  t.notOk(existsSync(join(out, "usr/lib/x86_64-linux-gnu/libfoo.so.1.0")));
  t.notOk(existsSync(join(out, "etc")));
  t.equal(lstatSync(join(out, "tmp")).mode & 0o7777, 0o1777);
  t.ok(existsSync(join(out, "data")));
  t.ok(existsSync(join(out, "app/prog")));
  t.equal(magicpak("--root", root.dir, "-r", "/a", "-r", "/b", "/usr/bin/prog", fresh()).status, 2, "--install-to twice is a usage error");
});

t.test("--log-level and -v: levels, -v overrides, a bad level is a usage error", async (t) => {
  const info = magicpak("--root", root.dir, "--log-level", "Info", "/usr/bin/prog", fresh());
  t.match(info.stderr, / INFO bundle shared object dependencies of \/usr\/bin\/prog/);
  t.match(info.stderr, / INFO emit the bundle to /);
  const off = magicpak("--root", root.dir, "--log-level", "Off", "-i", "/nothing/*", "/usr/bin/prog", fresh());
  t.equal(off.stderr, "", "Off silences even warnings");
  const warn = magicpak("--root", root.dir, "-i", "/nothing/*", "/usr/bin/prog", fresh());
  t.match(warn.stderr, / WARN --include \/nothing\/\* matched nothing/);
  const verbose = magicpak("--root", root.dir, "--log-level", "Debug", "-v", "--cc", "gcc", "/usr/bin/prog", fresh());
  t.match(verbose.stderr, / INFO /);
  t.notMatch(verbose.stderr, /DEBUG/, "-v overrides --log-level Debug, as in magicpak");
  const lower = magicpak("--root", root.dir, "--log-level", "debug", "--cc", "gcc", "/usr/bin/prog", fresh());
  t.equal(lower.status, 0, "a level in any case");
  t.match(lower.stderr, /DEBUG --cc is accepted for compatibility/);
  const bad = magicpak("--root", root.dir, "--log-level", "loud", "/usr/bin/prog", fresh());
  t.equal(bad.status, 2);
  t.match(bad.stderr, /--log-level must be one of Off, Error, Warn, Info, Debug/);
});

t.test("-t/--test with --test-command, --test-stdin, --test-stdout and --busybox", async (t) => {
  const ok = magicpak("--root", root.dir, "/usr/bin/prog", fresh(), "-t", "--busybox", busybox, "--test-command", "cat; prog", "--test-stdin", "in-", "--test-stdout", "in-7");
  t.equal(ok.status, 0, ok.stderr);
  const out = fresh();
  const mismatch = magicpak("--root", root.dir, "/usr/bin/prog", out, "--test", "--busybox", busybox, "--test-stdout", "8");
  t.equal(mismatch.status, 1);
  t.match(mismatch.stderr, /^error: test failed: test command "prog": stdout mismatch: expected "8", got "7"\n$/);
  t.notOk(existsSync(out), "nothing written");
  const failing = magicpak("--root", root.dir, "/usr/bin/prog", fresh(), "--test", "--busybox", busybox, "--test-command", "exit 3");
  t.equal(failing.status, 1);
  t.match(failing.stderr, /exited with 3/);
  const noBusybox = magicpak("--root", root.dir, "/usr/bin/prog", fresh(), "--test", "--busybox", "/nonexistent/busybox");
  t.equal(noBusybox.status, 1);
  t.match(noBusybox.stderr, /^error: \/nonexistent\/busybox: busybox not found/);
  const dynamicBusybox = magicpak("--root", root.dir, "/usr/bin/prog", fresh(), "--test", "--busybox", "/usr/bin/ls");
  t.equal(dynamicBusybox.status, 1);
  t.match(dynamicBusybox.stderr, /must be statically linked/);
});

t.test("several inputs: all bundled, and --test tests each", async (t) => {
  const out = fresh();
  const r = magicpak("--root", root.dir, "/usr/bin/prog", "/usr/bin/other", out, "--test", "--busybox", busybox, "-v");
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /test the bundle: prog; other/);
  t.ok(existsSync(join(out, "usr/bin/other")));
});

t.test("hyphen values of --dynamic-arg and --upx-arg reach the traced run and UPX", async (t) => {
  const dynamic = magicpak("--root", root.dir, "/usr/bin/prog", fresh(), "-d", "--tracer", "strace", "--dynamic-arg", "--help", "--dynamic-arg=-x");
  t.equal(dynamic.status, 0, "hyphen values reach the --dynamic run (prog ignores its arguments)");
  const packed = fresh();
  const compress = magicpak("--root", root.dir, "/usr/bin/prog", packed, "-c", "--upx-arg", "--best", "--upx-arg=-q");
  t.equal(compress.status, 0, compress.stderr);
  t.ok(readFileSync(join(packed, "usr/bin/prog")).includes(Buffer.from("UPX!")), "packed");
  t.equal(magicpak("--root", root.dir, "/usr/bin/prog", fresh(), "-c", "--upx-arg", "--no-such-upx-option").status, 1, "UPX's usage error is a runtime error");
  t.equal(magicpak("--root", root.dir, "/usr/bin/prog", fresh(), "--dynamic-arg").status, 2, "a hyphen option without its value");
});

t.test("--cc and --experimental-noload-resolver are accepted for compatibility", async (t) => {
  const r = magicpak("--root", root.dir, "/usr/bin/prog", fresh(), "--cc", "/nonexistent/cc", "--experimental-noload-resolver");
  t.equal(r.status, 0, r.stderr);
});

t.test("values are taken verbatim (true, undefined, 007); an option with no value is a usage error", async (t) => {
  for (const word of ["true", "undefined", "007"]) {
    const r = magicpak("--root", root.dir, "/usr/bin/prog", fresh(), "--test", "--busybox", busybox, "--test-command", `echo ${word}`, "--test-stdout", word);
    t.equal(r.status, 0, r.stderr);
  }
  const missing = magicpak("--root", root.dir, "/usr/bin/prog", fresh(), "--test", "--busybox", busybox, "--test-stdout");
  t.equal(missing.status, 2);
  t.match(missing.stderr, /--test-stdout requires a value/);
});

t.test("a bad --tag is a usage error: exit 2, nothing written", async (t) => {
  const out = fresh();
  const r = magicpak("--root", root.dir, "/usr/bin/prog", out, "--oci", join(scratch, "oci-bad-tag"), "--tag", "UPPER:case");
  t.equal(r.status, 2);
  t.equal(r.stderr, "error: --tag UPPER:case: not a valid image reference (NAME[:TAG], lower-case name)\n");
  t.notOk(existsSync(out));
  t.notOk(existsSync(join(scratch, "oci-bad-tag")));
});

t.test("usage errors exit 2", async (t) => {
  t.equal(magicpak().status, 2, "no arguments");
  t.equal(magicpak("/usr/bin/prog").status, 2, "no OUTPUT");
  t.equal(magicpak("--root", root.dir, "/usr/bin/prog", fresh(), "--install-to").status, 2, "missing value");
  t.equal(magicpak("--root", root.dir, "/usr/bin/prog", fresh(), "--bogus").status, 2, "unknown option");
});

t.test("runtime errors exit 1 with one line naming the path, and write nothing", async (t) => {
  const out = fresh();
  const cases: [string[], RegExp][] = [
    [["/nonexistent/prog", out], /^error: \/nonexistent\/prog: No such file or directory\n$/],
    [["--root", root.dir, "/etc", out], /^error: \/etc: is a directory\n$/],
    [["--root", root.dir, "/usr/lib/x86_64-linux-gnu/libfoo.so.1", out, "--include", "/no/such/file"], /^error: .*\n$/],
  ];
  writeFileSync(join(root.dir, "etc/text"), "this is a text file, not an ELF object\n".repeat(3));
  cases.push([["--root", root.dir, "/etc/text", out], /^error: \/etc\/text: not a loadable ELF file: invalid ELF header \(no ELF magic\)\n$/]);
  rmSync(join(root.dir, root.libdir, "libfoo.so.1"));
  cases.push([["--root", root.dir, "/usr/bin/prog", out], /^error: \/usr\/bin\/prog: libfoo\.so\.1 not found \(needed by \/usr\/bin\/prog\); tried .*\n$/]);
  for (const [args, message] of cases) {
    const r = magicpak(...args);
    t.equal(r.status, 1, args.join(" "));
    t.match(r.stderr, message);
    t.notOk(existsSync(out), "nothing written");
  }
  t.same(
    readdirSync(scratch).filter((n) => n.startsWith(".")),
    [],
    "no staging directories left behind",
  );
});

t.test("--test works without root, through user and mount namespaces", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "magicpak-nobody-"));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const bb = join(home, "busybox");
  spawnSync("cp", [busybox, bb]);
  spawnSync("chown", ["-R", "65534:65534", home]);
  spawnSync("chmod", ["755", home]);
  const r = spawnSync(
    "setpriv",
    [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      process.execPath,
      bin,
      "/usr/bin/ls",
      join(home, "out"),
      "--test",
      "--busybox",
      bb,
      "--test-command",
      "ls / | grep -c usr; id -u",
      "--test-stdout",
      "1\n0",
    ],
    { encoding: "utf8", env: { PATH: "/usr/bin:/bin", TMPDIR: home } },
  );
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(join(home, "out/usr/bin/ls")), "bundle written by an unprivileged user");
});

t.test("as a user who cannot search the directory node is in, --test still knows this machine", async (t) => {
  // Node under /root, run as nobody (the engines-floor run found this): process.execPath cannot be
  // opened by that user, the running file can through /proc/self/exe.
  const home = mkdtempSync(join(tmpdir(), "magicpak-nobody-"));
  const hidden = mkdtempSync(join(tmpdir(), "magicpak-hidden-node-"));
  t.teardown(() => {
    rmSync(home, { recursive: true, force: true });
    rmSync(hidden, { recursive: true, force: true });
  });
  const node = join(hidden, "node");
  spawnSync("cp", [process.execPath, node]);
  spawnSync("chmod", ["700", hidden]);
  const bb = join(home, "busybox");
  spawnSync("cp", [busybox, bb]);
  spawnSync("chown", ["-R", "65534:65534", home]);
  const asNobody = (...args: string[]) => spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", node, ...args], { encoding: "utf8", env: { PATH: "/usr/bin:/bin", TMPDIR: home } });
  t.equal(asNobody("-e", `require("fs").openSync(process.execPath, "r")`).status, 1, "the user cannot open process.execPath");
  const r = asNobody(bin, "/usr/bin/ls", join(home, "out"), "--test", "--busybox", bb, "--test-command", "ls / | grep -c usr", "--test-stdout", "1");
  t.equal(r.status, 0, r.stderr);
  t.notMatch(r.stderr, /internal error|architecture|ELF header/);
  t.ok(existsSync(join(home, "out/usr/bin/ls")));
});
