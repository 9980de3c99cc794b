// Benchmark: the test command as the workload (issue 12). For python3, git and postgres of this
// machine, in one run: the wall time of bundling with the workload traced (`magicpak PROG OUT
// --dynamic-command CMD`) against the plain bundle (`magicpak PROG OUT`) plus the command's own
// time on the host; and the size of that bundle against a hand-tuned --include list for the same
// command. Both bundles of each program must then run the command in a chroot of the bundle (as
// root, with /proc, /dev and a static busybox for the shell and its applets added after measuring)
// with the output the command gives on the host.
//
//   npm run bench:dynamic     (BENCH_DYNAMIC_REPS=N timed runs of each command, default 3). Run
//   alone it prints its section and writes it into bench/RESULTS.md (replacing its earlier copy);
//   `npm run bench` runs it with the others.

import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fixture } from "../test/support/fixtures.js";
import { bundleStats } from "../test/support/scratch-jail.js";
import { fixed, median, mib, runAlone, timed, versionLine, type Section } from "./common.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const magicpak = join(here, "../../bin/magicpak.js");
const PG = "/usr/lib/postgresql/15/bin";

interface Case {
  name: string;
  program: string;
  /** The workload, run by sh -c on the host, traced by magicpak, and in each bundle. */
  command: string;
  /** The hand-tuned options that make the plain bundle run the same command. */
  hand: string[];
  /** In words, for the table. */
  handText: string;
}

const pythonCode =
  "import json, sqlite3, email.message, hashlib, zlib; c = sqlite3.connect(':memory:'); m = email.message.EmailMessage(); m['To'] = 'a@b'; print(json.dumps([c.execute('select 6*7').fetchone()[0], m['To'], hashlib.sha256(zlib.compress(b'x')).hexdigest()[:8]]))";
const stdlib = "/usr/lib/python3.11";
const CASES: Case[] = [
  {
    name: "python3",
    program: "/usr/bin/python3",
    command: `python3 -c "${pythonCode}"`,
    hand: ["--include", `${stdlib}/**`, "--exclude", `${stdlib}/{test,idlelib,tkinter,turtledemo,pydoc_data,ensurepip,lib2to3}`, "--exclude", `${stdlib}/lib-dynload/{_test,_xxtest,xxlimited}*`],
    handText: "the standard library without its tests, IDLE, Tk, docs data, ensurepip and lib2to3 (as test/e2e/foreign-jail.test.ts writes it)",
  },
  {
    name: "git",
    program: "/usr/bin/git",
    command: "d=$(mktemp -d) && cd $d && git init -q && echo x > f && git add f && git -c user.name=a -c user.email=a@b commit -qm one && git log --format=%s && cd / && rm -rf $d",
    hand: ["--include", "/usr/share/git-core/templates", "--mkdir", "/tmp"],
    handText: "git's templates and /tmp",
  },
  {
    name: "postgres",
    program: `${PG}/postgres`,
    // initdb and postgres refuse to run as root: the command drops to nobody with setpriv.
    command: `rm -rf /tmp/magicpak-bench-pg && mkdir /tmp/magicpak-bench-pg && chown 65534:65534 /tmp/magicpak-bench-pg && /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups ${PG}/initdb -N -D /tmp/magicpak-bench-pg/db -A trust -U postgres >/dev/null && echo 'select 40+2 as answer;' | /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups ${PG}/postgres --single -D /tmp/magicpak-bench-pg/db -c fsync=off postgres 2>/dev/null | grep -c 'answer = "42"'; rm -rf /tmp/magicpak-bench-pg`,
    hand: [
      "--include",
      `${PG}/initdb`,
      "--include",
      "/usr/lib/postgresql/15/lib",
      "--include",
      "/usr/share/postgresql/15",
      "--include",
      "/bin/sh",
      "--include",
      "/usr/bin/setpriv",
      "--mkdir",
      "/tmp",
      "--passwd",
    ],
    handText: "initdb, postgres's lib/ and share/ directories, /bin/sh (initdb runs postgres through it), setpriv, /tmp and a passwd with nobody",
  },
];

const reps = Number(process.env["BENCH_DYNAMIC_REPS"] ?? 3);
const busybox = fixture("MAGICPAK_BUSYBOX");
const env = { PATH: `${fixture("MAGICPAK_TOOLS")}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` };
const hostEnv = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/" };

// In a private mount and PID namespace, as root: /proc and four /dev nodes on a tmpfs, then the
// busybox's sh in a chroot of the bundle, its applets at the end of PATH.
const CHROOT = [
  "set -e",
  'mount -t proc proc "$J/proc"',
  'mount -t tmpfs tmpfs "$J/dev"',
  'for d in null zero urandom random; do : > "$J/dev/$d"; mount --bind "/dev/$d" "$J/dev/$d"; done',
  'exec chroot "$J" /.bench-busybox/busybox sh -c "export PATH=/usr/local/bin:/usr/bin:/bin:/.bench-busybox HOME=/; $CMD"',
].join("; ");

/** The command in a chroot of the bundle `out` (changed: the busybox and mount points are added). */
function runInBundle(out: string, command: string): { status: number | null; stdout: string; stderr: string } {
  for (const d of ["proc", "dev", ".bench-busybox"]) mkdirSync(join(out, d), { recursive: true });
  copyFileSync(busybox, join(out, ".bench-busybox/busybox"));
  spawnSync("chmod", ["755", join(out, ".bench-busybox/busybox")]);
  const r = spawnSync("unshare", ["--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "/bin/sh", "-c", CHROOT], {
    encoding: "utf8",
    env: { ...hostEnv, J: out, CMD: command },
    timeout: 300_000,
  });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

export async function run(): Promise<Section> {
  const scratch = mkdtempSync(join(tmpdir(), "magicpak-bench-dynamic-"));
  const rows: string[][] = [];
  const sizeRows: string[][] = [];
  const ratios: { name: string; time: number; size: number }[] = [];
  const checks: string[] = [];
  const missing: string[] = [];
  let n = 0;
  try {
    for (const c of CASES) {
      if (!existsSync(c.program)) {
        missing.push(`${c.name} (${c.program})`);
        continue;
      }
      const expected = timed("/bin/sh", ["-c", c.command], { env: hostEnv }).stdout;
      const plain: number[] = [];
      const cmd: number[] = [];
      const dyn: number[] = [];
      let dynOut = "";
      for (let i = 0; i < reps; i++) {
        const p = join(scratch, `plain-${++n}`);
        plain.push(timed(process.execPath, [magicpak, c.program, p], { env }).ms);
        rmSync(p, { recursive: true, force: true });
        cmd.push(timed("/bin/sh", ["-c", c.command], { env: hostEnv }).ms);
        dynOut = join(scratch, `dyn-${++n}`);
        dyn.push(timed(process.execPath, [magicpak, c.program, dynOut, "--dynamic-command", c.command, "--busybox", busybox], { env }).ms);
        if (i < reps - 1) rmSync(dynOut, { recursive: true, force: true });
      }
      const handOut = join(scratch, `hand-${c.name}`);
      timed(process.execPath, [magicpak, c.program, handOut, ...c.hand], { env });
      const [p, m, d] = [median(plain), median(cmd), median(dyn)];
      rows.push([c.name, fixed(p), fixed(m), fixed(p + m), fixed(d), fixed(d / (p + m), 2), fixed(d - p - m)]);
      const [ds, hs] = [bundleStats(dynOut), bundleStats(handOut)];
      sizeRows.push([c.name, String(ds.files), mib(ds.bytes), String(hs.files), mib(hs.bytes), fixed(ds.bytes / hs.bytes, 2), c.handText]);
      ratios.push({ name: c.name, time: d / (p + m), size: ds.bytes / hs.bytes });
      for (const [what, out] of [
        ["--dynamic-command", dynOut],
        ["hand-tuned", handOut],
      ] as const) {
        const r = runInBundle(out, c.command);
        const ok = r.status === 0 && r.stdout === expected;
        checks.push(
          `${c.name} ${what}: ${ok ? "same output as on the host" : `**FAILED** (exit ${r.status}; ${JSON.stringify(r.stdout.slice(0, 200))} vs ${JSON.stringify(expected.slice(0, 200))}; ${r.stderr.trim().split("\n").slice(-2).join(" / ")})`}`,
        );
      }
      process.stderr.write(`  dynamic: ${c.name} done\n`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const allRan = checks.every((c) => !c.includes("FAILED"));
  const worst = Math.max(...ratios.map((r) => r.size));
  return {
    title: "The test command as the workload: --dynamic-command / --dynamic-test",
    source: "issue 12 (bundle what real programs use, with no hand-found --include)",
    peers: [
      `the programs of this machine: ${versionLine("/usr/bin/python3", ["--version"])}, ${versionLine("/usr/bin/git", ["--version"])}, ${versionLine(`${PG}/postgres`, ["--version"])} (Debian bookworm packages installed on the host), traced by ${versionLine("strace", ["-V"])}`,
    ],
    method: [
      `For each program, ${reps} rounds of: the plain bundle \`magicpak PROG OUT\`; the command itself on the host (\`sh -c CMD\`); and \`magicpak PROG OUT --dynamic-command CMD\`, which traces CMD (strace in a PID namespace, the harness busybox's sh running it) and bundles what its processes used. Medians of wall time, each a new process (Node's start-up included). \`--dynamic-test\` traces the --test command the same way (then also runs the jail test, which is not timed here).`,
      "The commands: python3 imports json, sqlite3, email.message, hashlib and zlib and prints a line; git inits a repository in a mktemp directory, commits and logs; postgres: initdb (as nobody through /usr/bin/setpriv, busybox's has no --reuid: initdb and postgres refuse root) and a query through `postgres --single`. postgres is not --test'ed by magicpak itself because its jail runs as root.",
      "The size of the traced bundle (regular files, each inode once) against a plain bundle with a hand-tuned --include list that runs the same command. Each bundle is then checked: the command in a chroot of it, as root, with /proc, /dev and a static busybox (its sh and applets at the end of PATH) added after measuring, must give the host's output.",
    ],
    tables: [
      {
        caption: "**Wall time (ms, medians):**",
        header: ["program", "plain bundle", "command on host", "plain + command", "traced bundle", "traced ÷ (plain + command)", "overhead ms"],
        rows,
      },
      {
        caption: "**Size:**",
        header: ["program", "traced: files", "traced: MiB", "hand-tuned: files", "hand-tuned: MiB", "traced ÷ hand-tuned", "hand-tuned list"],
        align: ["l", "r", "r", "r", "r", "r", "l"],
        rows: sizeRows,
      },
    ],
    goals: [
      {
        goal: "traced bundle <= 1.2x a hand-tuned --include list, for the same command",
        measured: ratios.map((r) => `${r.name} ${fixed(r.size, 2)}x`).join(", "),
        met: ratios.length === CASES.length && worst <= 1.2 && allRan,
      },
    ],
    notes: [
      `Each bundle run with its command: ${checks.join("; ")}.`,
      "The tools a command runs itself (mktemp and rm for git; mkdir, chown, grep and rm for postgres) are the harness busybox's in the traced run as in the check, so neither bundle holds them; what the programs run themselves (git's /bin/sh for hooks, initdb's sh and postgres) is traced and bundled. The traced bundles hold only the stdlib modules python3 imported and the postgres lib/ and share/ files initdb and postgres opened.",
      "git stats /usr/lib/git-core/git (its exec-path) and the traced bundle brings that file (files a run only stat'ed are bundled by design: opened, executed, stat'ed or read as links). On this host it is a separate inode with the bytes, mode and mtime of /usr/bin/git; magicpak stores such files once, as hard links (sizes count each inode once).",
      "The overhead is strace's (every system call of every process stops in the tracer) plus the analysis of what it recorded; it grows with the number of system calls of the workload (initdb's bootstrap makes many).",
      ...(missing.length ? [`Not on this machine, left out: ${missing.join(", ")}.`] : []),
    ],
  };
}

const HEADING = "## The test command as the workload";
const FROM_IMAGE = "## Slimming an image: --from-image";

await runAlone(import.meta.url, run, (section, date) => {
  const text = `${section}\n\nSource: bench/dynamic.ts (run alone on ${date}).`;
  // Into RESULTS.md: in place of its earlier copy, else before the --from-image section (which
  // bench/run.ts keeps as it is).
  const results = join(here, "../../bench/RESULTS.md");
  const old = readFileSync(results, "utf8");
  const start = old.indexOf(HEADING);
  let updated: string;
  if (start !== -1) {
    const next = old.indexOf("\n## ", start + 1);
    updated = `${old.slice(0, start)}${text}\n${next === -1 ? "" : old.slice(next)}`;
  } else {
    const at = old.indexOf(FROM_IMAGE);
    updated = at === -1 ? `${old.trimEnd()}\n\n${text}\n` : `${old.slice(0, at)}${text}\n\n${old.slice(at)}`;
  }
  writeFileSync(results, updated);
  process.stderr.write(`bench: wrote the dynamic section into ${results}\n`);
  return text;
});
