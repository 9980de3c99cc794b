// --test of a bundle for another architecture than this machine's: bash and python3 bundled from the
// arm64 root of the conformance suite run in the jail through qemu-aarch64 (binfmt_misc registered
// in the jail's own user namespace), next to Debian's arm64 busybox; neither reaches OUTPUT. Each
// bundle then runs again in a jail of the test's own making (a copy of OUTPUT, the arm64 busybox,
// unshare, binfmt_misc with Debian's aarch64 handler pointing at the host's qemu, chroot), which
// uses nothing of lib/jail. Expected outputs come from node (sha256, sorting) or from the root's own
// programs run through qemu outside any jail.

import t, { type Test } from "tap";
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, tool } from "../support/fixtures.js";
import { bundleStats, describeStats, magicpakCli, runProcess, shellQuote, SYSTEM_PATH } from "../support/scratch-jail.js";
import { bundle } from "../../lib/bundle/bundle.js";
import { testInJail, TestFailure } from "../../lib/jail/jail.js";
import { binfmtRegistration } from "../../lib/jail/emulation.js";
import { abiByName } from "../../lib/loader/machines.js";
import { DEBIAN_AARCH64, harnessPiecesIn, withForeignJail } from "../support/foreign.js";

const work = mkdtempSync(join(tmpdir(), "magicpak-e2e-foreign-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** The provisioned pieces; a missing one fails the test with the remedy (never a skip). */
function pieces() {
  return {
    root: fixture("MAGICPAK_ARM64_ROOT"),
    qemu: fixture("MAGICPAK_QEMU_AARCH64"),
    qemuInRoot: fixture("MAGICPAK_QEMU_AARCH64_IN_ROOT"),
    busybox: fixture("MAGICPAK_BUSYBOX_ARM64"),
    // The CLI finds these two on PATH (MAGICPAK_TOOLS) when --busybox/--emulator are not given.
    onPath: [tool("busybox-arm64"), tool("qemu-aarch64-static")],
  };
}

/** Debian's qemu-user-binfmt handler for aarch64 (/usr/lib/binfmt.d/qemu-aarch64.conf of qemu-user-static 7.2) up to the interpreter. */
/** qemu's scripts/qemu-binfmt-conf.sh for x86_64 (Debian registers none on amd64), in the same form. */
const QEMU_X86_64 =
  ":qemu-x86_64:M::\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x3e\\x00:\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:";

/** Runs the CLI with ARGS, where "OUT" is the output; asserts exit 0 and OUTPUT; reports what was bundled. */
async function bundleWithCli(t: Test, name: string, args: string[]): Promise<string> {
  const out = join(work, name);
  const r = await magicpakCli(args.map((a) => (a === "OUT" ? out : a)));
  const shown = args.map((a) => (a.length > 60 ? `${shellQuote(a.slice(0, 40))}…` : /^[\w/.:=*-]+$/.test(a) ? a : shellQuote(a)));
  t.equal(r.status, 0, `magicpak ${shown.join(" ")}`, { stderr: r.stderr });
  t.ok(existsSync(out), "OUTPUT was written");
  if (existsSync(out)) t.comment(`${name}: ${describeStats(bundleStats(out))}; magicpak (analysis, jail test under qemu, emit) took ${r.ms} ms`);
  return out;
}

/** Neither the emulator nor busybox (by name or by content) nor the jail's /.magicpak is in OUTPUT. */
function assertNoJailPieces(t: Test, out: string, hostFiles: string[]): void {
  t.same(harnessPiecesIn(out, hostFiles), [], "no qemu, no busybox, no /.magicpak in OUTPUT");
}

/** A program of the arm64 root run by qemu in a chroot of the root, outside any jail: builtins only (no binfmt there). */
async function inArm64Root(args: string[]): Promise<string> {
  const { root, qemuInRoot } = pieces();
  const r = await runProcess("chroot", [root, qemuInRoot, ...args]);
  if (r.status !== 0) throw new Error(`chroot ${root} ${qemuInRoot} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

t.test("binfmt_misc handlers: Debian's for aarch64 and qemu's for x86_64, byte for byte", async (t) => {
  t.equal(binfmtRegistration("qemu-aarch64", abiByName("arm64")!, "/q"), `${DEBIAN_AARCH64}/q:POF`);
  t.equal(binfmtRegistration("qemu-x86_64", abiByName("amd64")!, "/q"), `${QEMU_X86_64}/q:POF`);
  t.throws(() => binfmtRegistration("x", abiByName("arm64")!, "/tmp/a:b/q"), /cannot contain ':'/);
});

t.test("bash from the arm64 root: --test runs it through qemu-aarch64 with the arm64 busybox (both found on PATH)", async (t) => {
  const { root, qemu, busybox } = pieces();
  // bash and the root's own tr and uname (a scratch image has no busybox applets): a pipeline of
  // subshells, bash starting bash ($BASH: an execve the kernel hands to qemu again).
  const script = [
    "set -o pipefail",
    "words=(delta alpha charlie bravo)",
    `printf '%s\\n' "\${words[@]}" | while read -r w; do echo "\${#w}:\${w^^}"; done | "$BASH" -c 'mapfile -t l; echo "\${#l[@]} lines: \${l[*]}"'`,
    'echo "$(( 6 * 7 )) bash-${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]} $HOSTTYPE" | tr a-z A-Z',
    "uname -m",
    "",
  ].join("\n");
  // The version line from the root's own bash (builtins only: there is no binfmt outside a jail).
  const version = (await inArm64Root(["/usr/bin/bash", "-c", 'echo "bash-${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]} $HOSTTYPE"'])).trim().toUpperCase();
  t.match(version, /^BASH-5\.\d+ AARCH64$/);
  const expected = `4 lines: 5:DELTA 5:ALPHA 7:CHARLIE 5:BRAVO\n42 ${version}\naarch64\n`;
  // No --test-command: the test runs `bash` (the input's name) with the script on its input.
  const out = await bundleWithCli(t, "bash", [
    "--root",
    root,
    "/usr/bin/bash",
    "OUT",
    "--include",
    "/usr/bin/tr",
    "--include",
    "/usr/bin/uname",
    "--test",
    "--test-stdin",
    script,
    "--test-stdout",
    expected.trim(),
  ]);
  t.ok(existsSync(join(out, "usr/bin/bash")) && existsSync(join(out, "lib/ld-linux-aarch64.so.1")), "the arm64 bash and its loader are in OUTPUT");
  assertNoJailPieces(t, out, [qemu, busybox]);
  await withForeignJail(out, async (jail) => {
    const r = await jail.run("bash", { stdin: script });
    t.equal(r.status, 0, "exit 0 in the test's own jail", { stderr: r.stderr });
    t.equal(r.stdout, expected, "the same output in the test's own jail");
  });
});

t.test("python3.11 from the arm64 root with its standard library: json and hashlib, sha256 as node computes it", async (t) => {
  const { root, qemu, busybox } = pieces();
  const program = [
    "import sys, json, hashlib, platform, _hashlib",
    "doc = json.loads(sys.stdin.buffer.read())",
    "out = {'machine': platform.machine(), 'sha256': hashlib.sha256(doc['blob'].encode()).hexdigest(), 'sorted': sorted(doc['xs'])}",
    "print(json.dumps(out, sort_keys=True, separators=(',', ':')))",
    "print(json.__file__, hashlib.__file__, _hashlib.__file__)",
  ].join("\n");
  const expectFor = (blob: string, xs: number[]) => JSON.stringify({ machine: "aarch64", sha256: createHash("sha256").update(blob, "utf8").digest("hex"), sorted: [...xs].sort((a, b) => a - b) });
  const stdlib = "/usr/lib/python3.11";
  const modules = `${stdlib}/json/__init__.py ${stdlib}/hashlib.py ${stdlib}/lib-dynload/_hashlib.cpython-311-aarch64-linux-gnu.so`;
  const blob = `magicpak ✓ ${randomBytes(16).toString("hex")}`;
  const command = `python3 -I -c ${shellQuote(program)}`;
  // The standard library without what a program never imports: its tests, IDLE, Tk, docs data,
  // pip's wheels and CPython's own test extensions. --busybox and --emulator given this time.
  const out = await bundleWithCli(t, "python3", [
    "--root",
    root,
    "/usr/bin/python3",
    "OUT",
    "--include",
    `${stdlib}/**`,
    "--exclude",
    `${stdlib}/{test,idlelib,tkinter,turtledemo,pydoc_data,ensurepip,lib2to3}`,
    "--exclude",
    `${stdlib}/lib-dynload/{_test,_xxtest,xxlimited}*`,
    "--test",
    "--busybox",
    busybox,
    "--emulator",
    qemu,
    "--test-command",
    command,
    "--test-stdin",
    JSON.stringify({ blob, xs: [3, 1, 2] }),
    "--test-stdout",
    `${expectFor(blob, [3, 1, 2])}\n${modules}`,
  ]);
  t.ok(existsSync(join(out, `${stdlib}/json/__init__.py`)) && !existsSync(join(out, `${stdlib}/test`)), "the standard library is in OUTPUT, its tests are not");
  assertNoJailPieces(t, out, [qemu, busybox]);
  await withForeignJail(out, async (jail) => {
    const big = randomBytes(48 * 1024).toString("base64");
    const xs = Array.from({ length: 50 }, () => randomBytes(2).readUInt16LE());
    const r = await jail.run(command, { stdin: JSON.stringify({ blob: big, xs }) });
    t.equal(r.status, 0, "exit 0 in the test's own jail", { stderr: r.stderr });
    t.equal(r.stdout, `${expectFor(big, xs)}\n${modules}\n`, "node's sha256 and sort of another input, modules from the bundle");
  });
});

t.test("the host's busybox in the jail of an arm64 bundle: busybox runs natively, the bundle through qemu", async (t) => {
  const { root } = pieces();
  const out = await bundleWithCli(t, "bash-host-busybox", [
    "--root",
    root,
    "/usr/bin/bash",
    "OUT",
    "--test",
    "--busybox",
    fixture("MAGICPAK_BUSYBOX"),
    "--test-command",
    'uname -m; bash -c "echo \\$HOSTTYPE"',
    "--test-stdout",
    "x86_64\naarch64",
  ]);
  assertNoJailPieces(t, out, [fixture("MAGICPAK_BUSYBOX"), pieces().qemu]);
});

t.test("without root: an arm64 bundle tested by an unprivileged user (its own user namespace, its own binfmt_misc)", async (t) => {
  const { root, qemu, busybox } = pieces();
  // The fixtures live under root's home: give nobody a world-readable copy of what it needs.
  const home = mkdtempSync(join(tmpdir(), "magicpak-foreign-nobody-"));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const source = join(home, "root");
  const planned = await magicpakCli(["--root", root, "/usr/bin/bash", source]);
  t.equal(planned.status, 0, "an arm64 bash bundle to bundle from", { stderr: planned.stderr });
  mkdirSync(join(home, "bin"));
  copyFileSync(busybox, join(home, "bin/busybox-arm64"));
  copyFileSync(qemu, join(home, "bin/qemu-aarch64-static"));
  await runProcess("chmod", ["-R", "a+rX", home]);
  await runProcess("chown", ["65534:65534", home]);
  const cli = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
  const out = join(home, "out");
  const r = await runProcess(
    "setpriv",
    [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      process.execPath,
      cli,
      "--root",
      source,
      "/usr/bin/bash",
      out,
      "--test",
      "--test-command",
      'id -u; uname -m; bash -c "echo \\$HOSTTYPE"',
      "--test-stdout",
      "0\naarch64\naarch64",
    ],
    { env: { PATH: `${join(home, "bin")}:${SYSTEM_PATH}`, TMPDIR: home } },
  );
  t.equal(r.status, 0, "nobody's --test passes", { stderr: r.stderr });
  t.ok(existsSync(join(out, "usr/bin/bash")), "OUTPUT written by nobody");
  assertNoJailPieces(t, out, [qemu, busybox]);
});

t.test("refusals name what is missing and leave no OUTPUT", async (t) => {
  const { root, busybox, qemu } = pieces();
  const cli = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
  const run = (path: string, ...args: string[]) => runProcess(process.execPath, [cli, ...args], { env: { PATH: path } });
  const bbOnly = join(work, "bb-only");
  mkdirSync(bbOnly);
  symlinkSync(busybox, join(bbOnly, "busybox-arm64"));
  const cases: [string, string, string[], RegExp][] = [
    [
      "no arm64 busybox on PATH",
      SYSTEM_PATH,
      [],
      /^error: busybox-arm64: busybox not found: a jail for arm64 programs needs a static busybox for arm64 .*--busybox PATH or put it on PATH as busybox-arm64\n$/,
    ],
    [
      "no emulator on PATH",
      `${bbOnly}:${SYSTEM_PATH}`,
      [],
      /^error: qemu-aarch64-static: emulator not found: arm64 programs are tested on this amd64 machine through a static qemu-user for arm64 .*--emulator PATH or put qemu-aarch64-static on PATH\n$/,
    ],
    ["--emulator missing", SYSTEM_PATH, ["--busybox", busybox, "--emulator", "/nonexistent/qemu"], /^error: \/nonexistent\/qemu: emulator not found: .*give it with --emulator PATH\n$/],
    ["a dynamic emulator", SYSTEM_PATH, ["--busybox", busybox, "--emulator", "/usr/bin/ls"], /^error: \/usr\/bin\/ls: the emulator must be statically linked to run in the jail/],
    ["an emulator for another machine", SYSTEM_PATH, ["--busybox", busybox, "--emulator", busybox], /^error: .*busybox: the emulator is for arm64: it must be a program for this amd64 machine\n$/],
  ];
  for (const [what, path, extra, message] of cases) {
    const out = join(work, `refused-${what.replace(/\W+/g, "-")}`);
    const r = await run(path, "--root", root, "/usr/bin/bash", out, "--test", ...extra);
    t.equal(r.status, 1, `${what}: exit 1`);
    t.match(r.stderr, message, what);
    t.notOk(existsSync(out), `${what}: no OUTPUT`);
  }
  const tools = `${fixture("MAGICPAK_TOOLS")}:${SYSTEM_PATH}`;
  // An arm64 busybox cannot serve a bundle of this machine's architecture.
  const native = join(work, "refused-native");
  const r = await run(tools, "/usr/bin/true", native, "--test", "--busybox", busybox);
  t.equal(r.status, 1, "arm64 busybox for an amd64 bundle: exit 1");
  t.match(r.stderr, /^error: .*busybox: busybox is for arm64: a jail for amd64 programs on this amd64 machine needs a static busybox for amd64\n$/);
  t.notOk(existsSync(native), "no OUTPUT");
  // A test that fails under qemu fails the bundle: no OUTPUT.
  const failed = join(work, "refused-mismatch");
  const m = await run(tools, "--root", root, "/usr/bin/bash", failed, "--test", "--emulator", qemu, "--test-command", "bash -c 'echo $HOSTTYPE'", "--test-stdout", "x86_64");
  t.equal(m.status, 1, "stdout mismatch under qemu: exit 1");
  t.match(m.stderr, /^error: test failed: test command .*: stdout mismatch: expected "x86_64", got "aarch64"\n$/);
  t.notOk(existsSync(failed), "no OUTPUT");
});

// The reverse direction (an amd64 bundle on an arm64 machine) cannot run here; the same code path
// runs when the jail emulates this machine's own architecture. The handler then matches EI_OSABI 0
// only, so Debian's qemu-x86_64-static and busybox (marked GNU/Linux) run natively while the
// bundle's bash (SYSV) runs under qemu-x86_64: its /proc/PID/exe is the emulator.
t.test("an amd64 bundle as if foreign: bash under qemu-x86_64 in the jail (library)", async (t) => {
  const amd64 = fixture("MAGICPAK_AMD64_ROOT");
  const { graph, loads } = await bundle({ inputs: ["/usr/bin/bash"], root: amd64 });
  t.equal(loads[0]?.abi, "amd64");
  const options = { architectures: ["amd64"], busybox: fixture("MAGICPAK_BUSYBOX"), emulator: fixture("MAGICPAK_QEMU_X86_64") };
  // The image has no readlink or tr: the harness's applets look at a stopped bash from outside it.
  const probe = { command: "bash -c 'kill -STOP $$' & p=$!; sleep 1; readlink /proc/$p/exe | sed 's|.*/||'; kill -9 $p; bash -c 'echo $HOSTTYPE' | tr a-z A-Z" };
  await testInJail(graph, [{ ...probe, expectedStdout: "qemu-x86_64-static\nX86_64" }], { ...options, emulateHostArchitecture: true });
  t.pass("bash ran as a qemu-x86_64 process");
  await testInJail(graph, [{ ...probe, expectedStdout: "bash\nX86_64" }], options);
  t.pass("without emulateHostArchitecture it runs natively");
  await t.rejects(testInJail(graph, [{ command: "bash -c 'exit 3'" }], { ...options, emulateHostArchitecture: true }), TestFailure, "a failing command is a TestFailure under emulation too");
});
