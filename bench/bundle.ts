// Benchmark: bundling end to end. For each of a few programs of this machine, `magicpak PROGRAM
// OUT` (with its defaults, and with the runtime extras turned off: the bare closure) against
// `lddtree --copy-to-tree OUT PROGRAM` (pax-utils' lddtree.py), in the same run: wall time, peak
// RSS, and what each wrote (regular files, symlinks, bytes, bytes on disk). Each output is then
// smoke-tested: `PROGRAM --version` in a chroot of it (as root).
//
//   npm run bench:bundle      (BENCH_BUNDLE_REPS=N: N timed runs per tool and program, default 5;
//                              BENCH_BUNDLE_PROGRAMS="bash jq ...": other programs from /usr/bin)

import { spawnSync } from "node:child_process";
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readSync, readdirSync, readlinkSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tool } from "../test/support/fixtures.js";
import { LDSO, fixed, lddtreeVersion, median, mib, nodeStartupMs, runAlone, timed, type Section } from "./common.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const magicpak = join(here, "../../bin/magicpak.js");

/** Each program with the arguments that make it print its version and exit 0. */
const VERSION_ARGS: Record<string, string[]> = { ssh: ["-V"], openssl: ["version"] };
const DEFAULT_PROGRAMS = ["bash", "ssh", "python3.11", "curl", "jq", "git", "openssl"];

interface Tree {
  /** Regular files, each inode once. */
  files: number;
  /** Extra names of an inode already counted (hard links). */
  hardLinks: number;
  symlinks: number;
  dirs: number;
  elfFiles: number;
  /** Sum of the sizes of the regular files, each inode once. */
  bytes: number;
  /** Allocated blocks of every inode in the tree (files, symlinks, directories), as `du -s -B1`. */
  diskBytes: number;
}

function measureTree(root: string): Tree {
  const t: Tree = { files: 0, hardLinks: 0, symlinks: 0, dirs: 0, elfFiles: 0, bytes: 0, diskBytes: 0 };
  const seen = new Set<string>();
  const magic = Buffer.alloc(4);
  const visit = (path: string) => {
    const st = lstatSync(path);
    const id = `${st.dev}:${st.ino}`;
    const first = !seen.has(id);
    seen.add(id);
    if (first) t.diskBytes += st.blocks * 512;
    if (st.isDirectory()) {
      if (path !== root) t.dirs++;
      for (const name of readdirSync(path)) visit(join(path, name));
    } else if (st.isSymbolicLink()) {
      t.symlinks++;
    } else if (st.isFile()) {
      if (!first) {
        t.hardLinks++;
        return;
      }
      t.files++;
      t.bytes += st.size;
      const fd = openSync(path, "r");
      try {
        if (readSync(fd, magic, 0, 4, 0) === 4 && magic.toString("latin1") === "\x7fELF") t.elfFiles++;
      } finally {
        closeSync(fd);
      }
    }
  };
  visit(root);
  return t;
}

/** `PROGRAM --version` in a chroot of the output (given a /dev/null after measuring). "yes", "NO (...)" or why not checked. */
function smokeTest(out: string, program: string): string {
  if (process.getuid?.() !== 0) return "not checked (needs root)";
  const name = program.split("/").pop()!;
  try {
    mkdirSync(join(out, "dev"), { recursive: true });
    if (!existsSync(join(out, "dev/null"))) spawnSync("mknod", ["-m", "666", join(out, "dev/null"), "c", "1", "3"]);
  } catch {
    // a read-only or odd output: the program may still run
  }
  const r = spawnSync("/usr/sbin/chroot", [out, program, ...(VERSION_ARGS[name] ?? ["--version"])], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" }, timeout: 20000 });
  if (r.status === 0) return "yes";
  const why = (r.stderr || r.stdout || String(r.error ?? r.signal)).trim().split("\n")[0]!.slice(0, 80);
  return `NO (exit ${r.status}: ${why})`;
}

/** The symlinks met on the way to `path` inside the tree `root` (as `link -> target`), like chroot(root) would follow them. */
function linkChain(root: string, path: string): string[] {
  const hops: string[] = [];
  let todo = path.split("/").filter(Boolean);
  let at: string[] = [];
  for (let guard = 0; todo.length && guard < 40; guard++) {
    const name = todo.shift()!;
    if (name === "..") {
      at.pop();
      continue;
    }
    const here = `/${[...at, name].join("/")}`;
    const st = lstatSync(join(root, here), { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) {
      const target = readlinkSync(join(root, here));
      hops.push(`${here} -> ${target}`);
      if (target.startsWith("/")) at = [];
      todo = [...target.split("/").filter((c) => c && c !== "."), ...todo];
    } else {
      at.push(name);
    }
  }
  return hops;
}

/** The real names on the host of the ELF files in an output (its paths are the host's paths). */
function elfRealNames(root: string): Set<string> {
  const names = new Set<string>();
  const magic = Buffer.alloc(4);
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const r = `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(r);
      else if (entry.isFile()) {
        const fd = openSync(join(root, r), "r");
        try {
          if (readSync(fd, magic, 0, 4, 0) !== 4 || magic.toString("latin1") !== "\x7fELF") continue;
        } finally {
          closeSync(fd);
        }
        let real = r;
        try {
          real = realpathSync(r);
        } catch {
          // not on the host under that name: keep the output's name
        }
        names.add(basename(real));
      }
    }
  };
  walk("");
  return names;
}

const describeDiff = (d: Map<string, string[]>): string => (d.size === 0 ? "none" : [...d].map(([program, names]) => `${program.split("/").pop()}: ${names.join(", ")}`).join("; "));

interface Variant {
  label: string;
  short: string;
  argv: (program: string, out: string) => [string, string[]];
}

export async function run(): Promise<Section> {
  const reps = Math.max(1, Number(process.env["BENCH_BUNDLE_REPS"] ?? 5));
  const wanted = (process.env["BENCH_BUNDLE_PROGRAMS"]?.split(/\s+/).filter(Boolean) ?? DEFAULT_PROGRAMS).map((p) => (p.startsWith("/") ? p : `/usr/bin/${p}`));
  const programs = wanted.filter((p) => existsSync(p));
  const missing = wanted.filter((p) => !existsSync(p));
  const lddtree = tool("lddtree");
  const variants: Variant[] = [
    { label: "magicpak PROGRAM OUT (defaults)", short: "magicpak", argv: (p, o) => [process.execPath, [magicpak, p, o]] },
    {
      label: "magicpak --no-nss --dlopen-notes none PROGRAM OUT (the closure alone)",
      short: "magicpak, closure alone",
      argv: (p, o) => [process.execPath, [magicpak, "--no-nss", "--dlopen-notes", "none", p, o]],
    },
    { label: "lddtree --copy-to-tree OUT PROGRAM", short: "lddtree --copy-to-tree", argv: (p, o) => [lddtree, ["--copy-to-tree", o, p]] },
  ];

  const scratch = mkdtempSync(join(tmpdir(), "magicpak-bench-bundle-"));
  try {
    // Warm the page cache (not timed): every program's closure read once by each tool.
    for (const p of programs) {
      for (const v of variants) {
        const out = join(scratch, "warm");
        rmSync(out, { recursive: true, force: true });
        const [cmd, args] = v.argv(p, out);
        timed(cmd, args);
      }
    }
    rmSync(join(scratch, "warm"), { recursive: true, force: true });

    const rows: string[][] = [];
    let interpreterChain: string[] = [];
    const onlyMagicpak = new Map<string, string[]>();
    const onlyLddtree = new Map<string, string[]>();
    const totals = variants.map(() => ({ ms: 0, bytes: 0, files: 0 }));
    const ratios: Array<{ program: string; time: number; closureTime: number; bytes: number }> = [];
    for (const p of programs) {
      const times: number[][] = variants.map(() => []);
      const rss: number[][] = variants.map(() => []);
      const outs = variants.map((_, i) => join(scratch, `${p.split("/").pop()}.${i}`));
      for (let r = 0; r < reps; r++) {
        // The tools alternate so that each sees the same machine state; each writes a new OUTPUT.
        variants.forEach((v, i) => {
          rmSync(outs[i]!, { recursive: true, force: true });
          const [cmd, args] = v.argv(p, outs[i]!);
          const m = timed(cmd, args);
          times[i]!.push(m.ms);
          rss[i]!.push(m.rssKiB / 1024);
        });
      }
      const medians = times.map(median);
      const trees = outs.map(measureTree);
      const smoke = outs.map((o) => smokeTest(o, p));
      if (p === programs[0]) interpreterChain = linkChain(outs[0]!, LDSO);
      const [closureNames, lddtreeNames] = [elfRealNames(outs[1]!), elfRealNames(outs[2]!)];
      const plus = [...closureNames].filter((n) => !lddtreeNames.has(n)).sort();
      const minus = [...lddtreeNames].filter((n) => !closureNames.has(n)).sort();
      if (plus.length) onlyMagicpak.set(p, plus);
      if (minus.length) onlyLddtree.set(p, minus);
      const interp = outs.map((o) => {
        const st = lstatSync(join(o, LDSO), { throwIfNoEntry: false });
        return st ? (st.isSymbolicLink() ? "symlink chain" : "regular file") : "absent";
      });
      variants.forEach((v, i) => {
        const t = trees[i]!;
        totals[i]!.ms += medians[i]!;
        totals[i]!.bytes += t.bytes;
        totals[i]!.files += t.files;
        rows.push([
          p,
          v.short,
          fixed(medians[i]!),
          fixed(Math.max(...rss[i]!)),
          String(t.files),
          String(t.elfFiles),
          String(t.symlinks),
          String(t.dirs),
          String(t.bytes),
          mib(t.bytes, 2),
          String(t.diskBytes),
          interp[i]!,
          smoke[i]!,
        ]);
      });
      ratios.push({ program: p, time: medians[0]! / medians[2]!, closureTime: medians[1]! / medians[2]!, bytes: trees[1]!.bytes / trees[2]!.bytes });
      for (const o of outs) rmSync(o, { recursive: true, force: true });
      process.stderr.write(`  bundle: ${p} done\n`);
    }
    variants.forEach((v, i) => rows.push(["all programs", v.short, fixed(totals[i]!.ms), "", String(totals[i]!.files), "", "", "", String(totals[i]!.bytes), mib(totals[i]!.bytes, 2), "", "", ""]));

    const nodeMs = nodeStartupMs();
    const pythonMs = median(Array.from({ length: 9 }, () => timed("/usr/bin/python3", ["-c", "pass"]).ms));
    const faster = ratios.filter((r) => r.time <= 1).length;
    const closureFaster = ratios.filter((r) => r.closureTime <= 1).length;
    return {
      title: "Bundling end to end: magicpak vs lddtree --copy-to-tree",
      source: "issue 7 (release quality: one benchmark report); issue 7 sets no numeric goal for it",
      peers: [lddtreeVersion()],
      method: [
        `The programs ${programs.join(", ")} of this machine, each bundled into a new, absent OUTPUT by three commands: ${variants.map((v) => `\`${v.label}\``).join("; ")}.`,
        `Wall time of the whole command (one process per bundle: Node's or Python's start-up included), median of ${reps} runs per tool and program, the three tools alternating; peak RSS is GNU time's %M, the largest of the ${reps} runs. No \`--test\` (lddtree has none). One untimed round of every command first warms the page cache.`,
        "The output of the last run is then measured: regular files (each inode once; ELF files among them), symlinks, directories, the bytes of the regular files, and the bytes on disk (allocated blocks of every inode, as `du -s -B1`).",
        "Then, as a smoke test, `PROGRAM --version` (`ssh -V`, `openssl version`) runs in a chroot of each output, with a /dev/null added after measuring (ssh and git open it).",
      ],
      tables: [
        {
          header: ["program", "tool", "ms (median)", "peak RSS MiB", "regular files", "of which ELF", "symlinks", "dirs", "bytes", "MiB", "bytes on disk", `${LDSO} in OUT`, "`--version` in chroot"],
          align: ["l", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "l", "l"],
          rows,
        },
      ],
      goals: [],
      notes: [
        "What each output contains. **lddtree --copy-to-tree** copies the program and every library as a regular file at the path where it found it (the soname path, e.g. /lib/x86_64-linux-gnu/libc.so.6 from ld.so.cache) and the interpreter as a regular file at /lib64/ld-linux-x86-64.so.2; it keeps no symlinks (neither soname -> real file links nor Debian's /lib -> usr/lib) and adds nothing beyond the DT_NEEDED closure.",
        `**magicpak** places each file at the paths the loader opens it by and keeps every symlink on the way as a relative link (e.g. libz.so.1 -> libz.so.1.2.13, /lib -> usr/lib), so the real files are at their real names and the interpreter path resolves as on the host (in the ${programs[0]} bundle: ${interpreterChain.map((h) => `\`${h}\``).join(", ")}). With its defaults it also adds the runtime extras, each for a reason found in the program: NSS (/etc/nsswitch.conf, /etc/hosts, /etc/services, a minimal /etc/passwd and /etc/group, the libnss_* modules of the databases the program looks up), libgcc_s.so.1 for pthread_cancel/pthread_exit/unwinding, and required .note.dlopen sonames - hence more files and bytes than the bare closure.`,
        `ELF files (compared by their real name on the host) in magicpak's closure alone but not in lddtree's output: ${describeDiff(onlyMagicpak)}; in lddtree's but not in magicpak's closure alone: ${describeDiff(onlyLddtree)}. \`--no-nss --dlopen-notes none\` leaves out NSS and .note.dlopen but not libgcc_s.so.1, which glibc dlopens for pthread_cancel/pthread_exit and unwinding (there is no option to leave it out)${onlyLddtree.size === 0 && [...onlyMagicpak.values()].flat().every((n) => n.startsWith("libgcc_s.so")) ? "; otherwise the two closures are the same files" : ""}.`,
        `Wall time, magicpak ÷ lddtree, with defaults / closure alone: ${ratios.map((r) => `${r.program.split("/").pop()} ${fixed(r.time, 2)}x / ${fixed(r.closureTime, 2)}x`).join(", ")}; magicpak was at least as fast as lddtree on ${faster} of ${ratios.length} programs with its defaults and on ${closureFaster} of ${ratios.length} for the closure alone. Both include their interpreter's start-up: Node's own here ${fixed(nodeMs)} ms, Python's (\`python3 -c pass\`) ${fixed(pythonMs)} ms, medians of 9. Bytes of the closure alone ÷ lddtree's: ${ratios.map((r) => `${r.program.split("/").pop()} ${fixed(r.bytes, 3)}`).join(", ")}.`,
        ...(rows.some((r) => r[12]!.startsWith("NO"))
          ? [
              "A `NO` in the smoke test is the program's own complaint about its environment: `ssh -V` exits 255 with \"No user exists for uid 0\" unless the output has a passwd entry for root, which only magicpak's defaults provide (NSS extras).",
            ]
          : []),
        "Neither output is a complete image of every program: python3.11 without its standard library or git without its helper programs only starts (which is what `--version` checks); magicpak's `--include`/`--dynamic` add such files, lddtree has no equivalent beyond `--copy-non-elfs` of named files.",
        ...(missing.length ? [`Not on this machine, left out: ${missing.join(", ")}.`] : []),
      ],
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await runAlone(import.meta.url, run);
