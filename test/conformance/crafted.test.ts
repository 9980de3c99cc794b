// Conformance 2: crafted cases, one small tree of executables and libraries per loader rule, built
// at test time by test/crafted/build.sh from test/crafted/src/*.c. For each case the real loader's
// trace (run now, never pasted) must equal our --list, and must show what the rule predicts, so
// that a case which silently stopped testing its rule fails.

import t from "tap";
import { spawnSync } from "node:child_process";
import { runProcess } from "../../lib/process.js";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Loader, detectHostCpu, formatTrace, type TargetEnvironment } from "../../lib/index.js";
import { normaliseTrace } from "../support/ground-truth.js";
import { fixture } from "../support/fixtures.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const BUILD = join(REPO, "test/crafted/build.sh");
const GLIBC_INTERP = "/lib64/ld-linux-x86-64.so.2";
const ARM64_INTERP = "/lib/ld-linux-aarch64.so.1";
const MUSL_INTERP = "/lib/ld-musl-x86_64.so.1";
const QEMU_IN_ROOT = "/.qemu/qemu-aarch64-static";

/**
 * Where a case runs: "host" in this machine's root (paths are absolute host paths), the others in
 * a small root of their own under chroot: this machine's glibc, musl, or aarch64 glibc under qemu.
 */
type Runner = "host" | "glibc-root" | "musl-root" | "arm64-root";

interface Case {
  name: string;
  runner: Runner;
  /** "/" for the host, else the root directory. */
  root: string;
  /** The program, as named inside the root. */
  file: string;
  /** "exec": started for real in trace mode; "list": named to its loader (ld.so FILE, ld-musl --list FILE). */
  how: "exec" | "list";
  libraryPath?: string;
  cwd?: string;
  /** Lines the rule predicts in the real loader's trace. */
  expect: string[];
  /** Lines the rule rules out. */
  reject?: string[];
  /** Messages the rule predicts on standard error (musl reports missing libraries there and goes on). */
  expectErrors?: string[];
}

/** What the real loader says about this CPU: the subdirectories it searches, and AT_PLATFORM. */
function loaderSays(): { searched: Set<string>; platform: string } {
  const help = spawnSync(GLIBC_INTERP, ["--help"], { encoding: "utf8", env: {} }).stdout ?? "";
  const searched = new Set<string>();
  for (const m of help.matchAll(/^\s+(\S+) \((?:[^)]*, )?searched\)$/gm)) searched.add(m[1]!);
  const platform = /^\s+(\S+) \(AT_PLATFORM[;)]/m.exec(help)?.[1] ?? "(ld.so --help names no AT_PLATFORM)";
  return { searched, platform };
}

/** Each glibc case is checked twice: started for real, and named to ld.so as ldd does. */
function glibcBoth(c: Omit<Case, "how">, listExpect?: string[]): Case[] {
  return [
    { ...c, how: "exec" },
    { ...c, how: "list", expect: listExpect ?? c.expect },
  ];
}

function cases(out: string): Case[] {
  const h = join(out, "host");
  const r = join(out, "roots");
  const { searched, platform } = loaderSays();
  const best = (dir: string, name: string, subdirs: string[]) => {
    const sub = subdirs.find((s) => searched.has(s.replace(/^glibc-hwcaps\//, "")));
    return `${dir}/${sub ? `${sub}/` : ""}${name}`;
  };
  const llp = `${h}/ld-library-path`;
  return [
    // 1. RPATH inherited along the loader chain.
    ...glibcBoth({
      name: "1 RPATH chain",
      runner: "host",
      root: "/",
      file: `${h}/rpath-chain/bin/exe`,
      expect: [`\tlibx.so => ${h}/rpath-chain/a/libx.so`, `\tliby.so => ${h}/rpath-chain/bin/../b/liby.so`, `\tlibw.so => ${h}/rpath-chain/c/libw.so`],
    }),
    // 2. RUNPATH applies to the object's own dependencies only.
    ...glibcBoth({
      name: "2 RUNPATH not inherited",
      runner: "host",
      root: "/",
      file: `${h}/runpath-not-inherited/bin/exe`,
      expect: [`\tlibx.so => ${h}/runpath-not-inherited/a/libx.so`, "\tliby.so => not found"],
    }),
    // 3. An object with RUNPATH does not use the RPATH chain; its dependencies still do.
    ...glibcBoth({
      name: "3 RUNPATH disables the RPATH chain",
      runner: "host",
      root: "/",
      file: `${h}/runpath-disables-chain/bin/exe`,
      expect: [
        "\tliby.so => not found",
        `\tlibw.so => ${h}/runpath-disables-chain/d/libw.so`,
        `\tliby.so => ${h}/runpath-disables-chain/b/liby.so`,
        `\tlibv.so => ${h}/runpath-disables-chain/b/libv.so`,
      ],
    }),
    // 4a. $ORIGIN of a library: the directory it was found in, symlinks not resolved.
    ...glibcBoth({
      name: "4a $ORIGIN through a symlinked directory and a symlinked library",
      runner: "host",
      root: "/",
      file: `${h}/origin-symlinked-dir/bin/exe`,
      expect: [`\tlibsdep.so => ${h}/origin-symlinked-dir/linkdir/../deps/libsdep.so`, `\tlibfsdep.so => ${h}/origin-symlinked-dir/lib/libfsdep.so`],
    }),
    // 4b. $ORIGIN of the main program: its real directory when started, the name as given to ld.so.
    ...glibcBoth(
      {
        name: "4b $ORIGIN of a symlinked executable",
        runner: "host",
        root: "/",
        file: `${h}/origin-symlinked-exe/bin/exe`,
        expect: [`\tliborg.so => ${h}/origin-symlinked-exe/real/bin/../lib/liborg.so`],
      },
      [`\tliborg.so => ${h}/origin-symlinked-exe/bin/../lib/liborg.so`],
    ),
    // 5. Breadth-first: libA.so (SONAME libcommon.so.1) is loaded before libB.so asks for libcommon.so.1.
    ...glibcBoth({
      name: "5 SONAME reuse in breadth-first order",
      runner: "host",
      root: "/",
      file: `${h}/soname-reuse/bin/exe`,
      expect: [`\tlibB.so => ${h}/soname-reuse/lib/libB.so`, `\tlibA.so => ${h}/soname-reuse/lib/libA.so`],
      reject: ["\tlibcommon.so.1 => not found", `\tlibalias.so => ${h}/soname-reuse/lib/libalias.so`],
    }),
    // 6. Names with '/': opened as given, relative to the cwd; $ORIGIN of such a library is cwd-based.
    //    Relative and empty RPATH elements are relative to the cwd too.
    ...glibcBoth({
      name: "6 DT_NEEDED names containing '/'",
      runner: "host",
      root: "/",
      file: `${h}/slash-names/bin/exe`,
      cwd: `${h}/slash-names/work`,
      expect: [
        "\tsub/libslash.so",
        "\t./dot/libdot.so",
        `\t${h}/slash-names/abs/libabs.so`,
        `\t${h}/slash-names/bin/libdst.so`,
        `\tlibmore.so => ${h}/slash-names/work/sub/more/libmore.so`,
        `\tlibdotdep.so => ${h}/slash-names/work/./dot/libdotdep.so`,
        "\tmissing/libnone.so => not found",
        "\tlibrr.so => relrpath/librr.so",
        "\tlibcwdr.so",
      ],
    }),
    // 7. DF_1_NODEFLIB: neither the system directories nor cache entries in them.
    ...glibcBoth({
      name: "7 DF_1_NODEFLIB on a library",
      runner: "glibc-root",
      root: `${r}/nodeflib`,
      file: "/case/exe",
      expect: ["\tlibnd.so => /case/lib/libnd.so", "\tlibsys.so.1 => not found", "\tlibopt.so.1 => /opt/nd/libopt.so.1"],
    }),
    ...glibcBoth({
      name: "7 DF_1_NODEFLIB on the executable",
      runner: "glibc-root",
      root: `${r}/nodeflib`,
      file: "/case/exe-nodeflib",
      // The executable's libc.so.6 is not found; libopt.so.1 (no DF_1_NODEFLIB) then finds it.
      expect: ["\tlibopt.so.1 => /opt/nd/libopt.so.1", "\tlibc.so.6 => not found"],
    }),
    // 8. glibc-hwcaps (best the CPU supports) and legacy hwcap subdirectories (glibc <= 2.36).
    ...glibcBoth({
      name: "8 glibc-hwcaps subdirectories",
      runner: "host",
      root: "/",
      file: `${h}/hwcaps/bin/exe`,
      expect: [
        `\tlibhw.so.1 => ${best(`${h}/hwcaps/lib`, "libhw.so.1", ["glibc-hwcaps/x86-64-v3", "glibc-hwcaps/x86-64-v2"])}`,
        `\tlibhw4.so.1 => ${best(`${h}/hwcaps/lib`, "libhw4.so.1", ["glibc-hwcaps/x86-64-v4"])}`,
        `\tlibleg.so.1 => ${best(`${h}/hwcaps/lib`, "libleg.so.1", ["tls"])}`,
      ],
    }),
    // 9. Wrong class and wrong machine are skipped; the search goes on.
    ...glibcBoth({
      name: "9 wrong ELF class and machine skipped",
      runner: "host",
      root: "/",
      file: `${h}/wrong-class/bin/exe`,
      expect: [`\tlibwc.so => ${h}/wrong-class/good/libwc.so`],
    }),
    // 10. ld.so.cache: a stale entry falls through to the system directories; ld.so.conf directories
    //     only through the cache (with its glibc-hwcaps entries).
    ...glibcBoth({
      name: "10 ld.so.cache: stale entry, ld.so.conf directory, hwcaps entry",
      runner: "glibc-root",
      root: `${r}/cache`,
      file: "/case/exe",
      expect: [
        `\tlibstale.so.1 => /lib/x86_64-linux-gnu/libstale.so.1`,
        "\tlibconf.so.1 => /opt/conf/libconf.so.1",
        `\tlibhwc.so.1 => ${best("/opt/conf", "libhwc.so.1", ["glibc-hwcaps/x86-64-v2"])}`,
      ],
    }),
    ...glibcBoth({
      name: "10 no ld.so.cache: ld.so.conf directories unreachable",
      runner: "glibc-root",
      root: `${r}/nocache`,
      file: "/case/exe",
      expect: ["\tlibstale.so.1 => /lib/x86_64-linux-gnu/libstale.so.1", "\tlibconf.so.1 => not found", "\tlibhwc.so.1 => not found"],
    }),
    // 11. LD_LIBRARY_PATH: ':' and ';', empty elements (the cwd), relative elements, $ORIGIN.
    ...glibcBoth({
      name: "11 LD_LIBRARY_PATH with ';', a relative and a trailing empty element",
      runner: "host",
      root: "/",
      file: `${llp}/bin/exe`,
      cwd: `${llp}/cwd`,
      libraryPath: `/nonexistent;${llp}/y:${llp}/z:rel:`,
      expect: [`\tlibthere.so => ${llp}/y/libthere.so`, `\tlibsemi.so => ${llp}/z/libsemi.so`, "\tlibhere.so", "\tlibrel.so => rel/librel.so"],
    }),
    ...glibcBoth({
      name: "11 LD_LIBRARY_PATH with an empty element in the middle",
      runner: "host",
      root: "/",
      file: `${llp}/bin/exe`,
      cwd: `${llp}/cwd`,
      libraryPath: `${llp}/y::${llp}/z;rel`,
      expect: [`\tlibthere.so => ${llp}/y/libthere.so`, "\tlibsemi.so", "\tlibhere.so", "\tlibrel.so => rel/librel.so"],
    }),
    ...glibcBoth({
      name: "11 LD_LIBRARY_PATH with $ORIGIN, trailing slashes and a repeat",
      runner: "host",
      root: "/",
      file: `${llp}/bin/exe`,
      cwd: `${llp}/cwd`,
      libraryPath: "$ORIGIN/../y///:${ORIGIN}/../z:$ORIGIN/../y:rel/:",
      expect: [`\tlibthere.so => ${llp}/bin/../y/libthere.so`, `\tlibsemi.so => ${llp}/bin/../z/libsemi.so`, "\tlibhere.so"],
    }),
    // 12. musl (its ldd mode is the only trace it has: the loader named with --list).
    {
      name: "12 musl: RPATH inherited, $ORIGIN, path file, libc names, SONAME ignored",
      runner: "musl-root",
      root: `${r}/musl`,
      file: "/case/bin/exe-rpath",
      how: "list",
      expectErrors: ["Error loading shared library libsoname.so.1: No such file or directory (needed by /case/a/libma.so)"],
      expect: [`\t${MUSL_INTERP}`, `\tlibc.so => ${MUSL_INTERP}`, "\tlibmb.so => /case/b/libmb.so", "\tlibmc.so => /case/a/../c/libmc.so", "\tlibmp.so => /opt/mp/libmp.so"],
    },
    {
      name: "12 musl: RUNPATH inherited too",
      runner: "musl-root",
      root: `${r}/musl`,
      file: "/case/bin/exe-runpath",
      how: "list",
      expect: ["\tlibmb.so => /case/b/libmb.so"],
    },
    {
      name: "12 musl: LD_LIBRARY_PATH first",
      runner: "musl-root",
      root: `${r}/musl`,
      file: "/case/bin/exe-rpath",
      how: "list",
      libraryPath: "/nonexistent;/case/b:/case/c",
      expect: ["\tlibmb.so => /case/b/libmb.so", "\tlibmc.so => /case/c/libmc.so"],
    },
    {
      name: "12 musl: $ORIGIN of a symlinked executable in ldd mode",
      runner: "musl-root",
      root: `${r}/musl`,
      file: "/case/bin/exe-origin",
      how: "list",
      expect: ["\tlibmo.so => /case/bin/../lib/libmo.so"],
    },
    {
      name: "12 musl: an open error (ELOOP) ends the search",
      runner: "musl-root",
      root: `${r}/musl`,
      file: "/case/bin/exe-rpath",
      how: "list",
      libraryPath: "/case/loop",
      expectErrors: ["Error loading shared library libmb.so: Symbolic link loop (needed by /case/a/libma.so)"],
      expect: ["\tlibmc.so => /case/a/../c/libmc.so"],
      reject: ["\tlibmb.so => /case/b/libmb.so"],
    },
    {
      name: "12 musl: a file that is not ELF ends the search",
      runner: "musl-root",
      root: `${r}/musl`,
      file: "/case/bin/exe-rpath",
      how: "list",
      libraryPath: "/case/bad",
      expectErrors: ["Error loading shared library libmb.so: Exec format error (needed by /case/a/libma.so)"],
      expect: ["\tlibmc.so => /case/a/../c/libmc.so"],
      reject: ["\tlibmb.so => /case/b/libmb.so"],
    },
    // 13. aarch64 under qemu, each in its own small root.
    ...glibcBoth({
      name: "13 aarch64 RPATH chain",
      runner: "arm64-root",
      root: `${r}/arm64-rpath-chain`,
      file: "/case/bin/exe",
      expect: ["\tliby.so => /case/bin/../b/liby.so", "\tlibw.so => /case/c/libw.so", `\t${ARM64_INTERP}`],
    }),
    ...glibcBoth({
      name: "13 aarch64 $ORIGIN through symlinks",
      runner: "arm64-root",
      root: `${r}/arm64-origin-dir`,
      file: "/case/bin/exe",
      expect: ["\tlibsdep.so => /case/linkdir/../deps/libsdep.so", "\tlibfsdep.so => /case/lib/libfsdep.so"],
    }),
    ...glibcBoth(
      {
        name: "13 aarch64 $ORIGIN of a symlinked executable",
        runner: "arm64-root",
        root: `${r}/arm64-origin-exe`,
        file: "/case/bin/exe",
        expect: ["\tliborg.so => /case/real/bin/../lib/liborg.so"],
      },
      ["\tliborg.so => /case/bin/../lib/liborg.so"],
    ),
    // 14. An open error other than ENOENT/EACCES: passed over in a hwcaps subdirectory, ends the
    //     search list in the directory itself.
    ...glibcBoth({
      name: "14 open error (ELOOP) in a search directory",
      runner: "host",
      root: "/",
      file: `${h}/open-error/bin/exe`,
      expect: [`\tlibx.so => ${h}/open-error/a/libx.so`, "\tliby.so => not found"],
    }),
    // 15. $LIB, $PLATFORM (AT_PLATFORM of this CPU, as ld.so --help names it) and a non-token $FOO.
    ...glibcBoth({
      name: "15 dynamic string tokens $LIB, ${PLATFORM}, $FOO",
      runner: "host",
      root: "/",
      file: `${h}/dst-tokens/bin/exe`,
      expect: [
        `\tlibtlib.so => ${h}/dst-tokens/bin/../lib/x86_64-linux-gnu/libtlib.so`,
        `\tlibtplat.so => ${h}/dst-tokens/bin/../${platform}/libtplat.so`,
        `\tlibtfoo.so => ${h}/dst-tokens/bin/../$FOO/libtfoo.so`,
      ],
    }),
    // 16. A defective candidate ends the whole program (glibc names the candidate's path).
    ...(
      [
        ["text", "invalid ELF header"],
        ["short", "file too short"],
        ["dir", "cannot read file data: Error 21"],
        ["endian", "ELF file data encoding not little-endian"],
        ["osabi", "ELF file OS ABI invalid"],
      ] as const
    ).flatMap(([defect, message]) =>
      glibcBoth({
        name: `16 fatal candidate: ${message}`,
        runner: "host",
        root: "/",
        file: `${h}/fatal-candidate/bin/exe-${defect}`,
        expect: [],
        expectErrors: [`${h}/fatal-candidate/bin/exe-${defect}: error while loading shared libraries: ${h}/fatal-candidate/bad-${defect}/libfatal.so: ${message}`],
      }),
    ),
  ];
}

interface Truth {
  lines: string[];
  errors: string[];
}

async function spawnTruth(command: string, args: string[], env: Record<string, string>, cwd: string): Promise<Truth> {
  const { stdout, stderr } = await runProcess(command, args, { env, cwd, timeoutMs: 20000 });
  return { lines: normaliseTrace(stdout), errors: stderr.split("\n").filter((l) => l !== "") };
}

/**
 * The real loader's trace. Chroots go through the static busybox: a dynamic chroot(1) started with
 * LD_TRACE_LOADED_OBJECTS=1 would list itself instead of running.
 */
function truthOf(c: Case, busybox: string): Promise<Truth> {
  const env: Record<string, string> = {};
  if (c.libraryPath !== undefined) env["LD_LIBRARY_PATH"] = c.libraryPath;
  const cwd = c.cwd ?? "/";
  switch (c.runner) {
    case "host":
      env["LD_TRACE_LOADED_OBJECTS"] = "1";
      return c.how === "exec" ? spawnTruth(c.file, [], env, cwd) : spawnTruth(GLIBC_INTERP, [c.file], env, cwd);
    case "glibc-root":
      env["LD_TRACE_LOADED_OBJECTS"] = "1";
      return spawnTruth(busybox, ["chroot", c.root, ...(c.how === "exec" ? [] : [GLIBC_INTERP]), c.file], env, "/");
    case "musl-root":
      return spawnTruth(busybox, ["chroot", c.root, MUSL_INTERP, "--list", c.file], env, "/");
    case "arm64-root": {
      const qemuEnv = Object.entries({ ...env, LD_TRACE_LOADED_OBJECTS: "1" }).flatMap(([k, v]) => ["-E", `${k}=${v}`]);
      return spawnTruth(busybox, ["chroot", c.root, QEMU_IN_ROOT, ...qemuEnv, ...(c.how === "exec" ? [] : [ARM64_INTERP]), c.file], {}, "/");
    }
  }
}

/** Ours: the same root, environment and CPU as the real loader's run. */
function oursOf(c: Case): { lines: string[]; errors: string[] } {
  const env: TargetEnvironment = { libraryPath: c.libraryPath ?? null, cwd: c.cwd ?? "/" };
  // A chroot root on this machine runs on this CPU; the host root detects it by itself; qemu's is unknown.
  if (c.runner === "glibc-root") env.cpu = detectHostCpu();
  if (c.runner === "musl-root" || c.runner === "arm64-root") env.cpu = null;
  const loader = new Loader(c.root, env);
  const graph = loader.load(c.file, { mode: c.how === "exec" ? "program" : "library" });
  return formatTrace(graph, c.file);
}

t.test("crafted cases: one per loader rule, each agrees with the real loader", async (t) => {
  if (process.getuid?.() !== 0) {
    t.fail("the crafted cases need root (chroot for their small roots); CI runs as root");
    return;
  }
  let busybox: string;
  try {
    busybox = fixture("MAGICPAK_BUSYBOX");
  } catch (error) {
    t.fail(`busybox (static, for chroot): ${(error as Error).message}`);
    return;
  }
  const out = mkdtempSync(join(tmpdir(), "magicpak-crafted-"));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const build = spawnSync("bash", [BUILD, out], { encoding: "utf8", env: process.env });
  if (build.status !== 0) {
    t.fail(`test/crafted/build.sh failed (missing tools: run \`npm run fixtures\`):\n${build.stderr}`);
    return;
  }
  t.equal(build.stdout + build.stderr, "", "build.sh is silent on success");

  const all = cases(out);
  const truths = await Promise.all(all.map((c) => truthOf(c, busybox)));
  let agreed = 0;
  all.forEach((c, i) => {
    const truth = truths[i]!;
    const label = `${c.name} (${c.how})`;
    if (!existsSync(join(c.root, c.file.startsWith("/") ? c.file : join(c.cwd ?? "/", c.file)))) {
      t.fail(`${label}: build.sh did not make ${c.file}`);
      return;
    }
    const ours = oursOf(c);
    for (const line of c.expect) t.ok(truth.lines.includes(line), `${label}: the real loader shows ${JSON.stringify(line)}`);
    for (const line of c.reject ?? []) t.notOk(truth.lines.includes(line), `${label}: the real loader does not show ${JSON.stringify(line)}`);
    for (const line of c.expectErrors ?? []) t.ok(truth.errors.includes(line), `${label}: the real loader says ${JSON.stringify(line)}`);
    const same = JSON.stringify(ours) === JSON.stringify(truth);
    t.same(ours.lines, truth.lines, label);
    t.same(ours.errors, truth.errors, `${label}: standard error`);
    if (same) agreed++;
  });
  t.equal(agreed, all.length, `${agreed} of ${all.length} crafted runs agree with the real loader`);
});
