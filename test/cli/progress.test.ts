// Progress on a terminal: the CLI runs in a real pseudo-terminal (script(1) from util-linux), and
// its steps must name counts and bytes that agree with what was really done (the sizes of
// /bin/true and of the bundled, UPX-packed copy; the files the emitted directory holds; the
// image's digest as its index.json records it). Without a terminal (pipes) it prints nothing, as
// before; NO_COLOR removes the colours; --log-level Off silences it.

import t from "tap";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture } from "../support/fixtures.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "magicpak-progress-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
const baseEnv = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", TERM: "xterm", HOME: dir };

/** magicpak in a pseudo-terminal: what the terminal showed (stdout and stderr together), and the exit status. */
function onTerminal(args: string[], env: Record<string, string> = {}) {
  const command = [process.execPath, bin, ...args].map(quote).join(" ");
  const r = spawnSync("script", ["-qec", command, "/dev/null"], { encoding: "utf8", env: { ...baseEnv, ...env }, timeout: 300_000 });
  return { status: r.status, shown: r.stdout, error: r.error };
}

/** The terminal's lines as a person sees them: a carriage return and erase-line start the line again. */
function screen(shown: string): string[] {
  return shown
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split(/\r?\n/)
    .map(
      (line) =>
        line
          .split(/\r(?:\x1b\[K)?/)
          .filter((part) => part !== "")
          .at(-1) ?? "",
    )
    .filter((line) => line.trim() !== "");
}

/** "576 kB" -> 576000 */
function bytesOf(text: string): number {
  const m = /^([\d.]+) (B|kB|MB|GB)$/.exec(text);
  if (!m) throw new Error(`not a size: ${text}`);
  return Number(m[1]) * { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[m[2] as "B"];
}

/** Whether a shown size is the real one to its three significant digits. */
const near = (shown: string, real: number) => Math.abs(bytesOf(shown) - real) <= real * 0.005 + 0.5;

function filesUnder(root: string): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    count++;
    bytes += statSync(join(entry.parentPath, entry.name)).size;
  }
  return { count, bytes };
}

const busybox = fixture("MAGICPAK_BUSYBOX");

t.test("on a terminal: --compress, --dynamic, --dynamic-test, the test, emit and an image, with counts and bytes", async (t) => {
  const out = join(dir, "true");
  const oci = join(dir, "true-oci");
  const r = onTerminal(["/bin/true", out, "--compress", "--dynamic", "--test", "--dynamic-test", "--busybox", busybox, "--oci", oci]);
  t.equal(r.status, 0, r.shown);
  const lines = screen(r.shown);
  t.comment(lines.join("\n"));

  const compress = lines.map((l) => /^\[1\/1\] compress \/bin\/true with UPX \((.+?)\): (.+?) -> (.+?) \(\d+\.\d s\)$/.exec(l)).find(Boolean);
  t.ok(compress, "[1/1] compress ... with its sizes and time");
  if (compress) {
    const size = statSync("/bin/true").size;
    t.ok(near(compress[1]!, size) && near(compress[2]!, size), `${compress[1]} and ${compress[2]}: /bin/true is ${size} bytes`);
    const packed = statSync(join(out, "bin/true")).size;
    t.ok(near(compress[3]!, packed), `${compress[3]}: the bundled bin/true is ${packed} bytes`);
  }
  const traced = lines.map((l) => /^\[1\/1\] trace a run of \/bin\/true \(--dynamic\): (\d+) file accesses \(\d+\.\d s\)$/.exec(l)).find(Boolean);
  t.ok(traced && Number(traced[1]) > 0, "[1/1] trace a run ...: N file accesses");
  const workload = lines.map((l) => /^\[1\/1\] trace the workload "true" \(--dynamic-test\): (\d+) file accesses \(\d+\.\d s\)$/.exec(l)).find(Boolean);
  t.ok(workload && Number(workload[1]) > 0, '[1/1] trace the workload "true": N file accesses');
  t.ok(
    lines.some((l) => /^test the bundle in a jail: true: passed \(\d+\.\d s\)$/.test(l)),
    "the test, passed",
  );
  const emit = lines.map((l) => /^emit (\d+) entries to (.+): (\d+) files, (.+?) \(\d+\.\d s\)$/.exec(l)).find(Boolean);
  t.ok(emit, "emit N entries: F files, B bytes");
  if (emit) {
    const real = filesUnder(out);
    t.equal(emit[2], out);
    t.equal(Number(emit[3]), real.count, `${real.count} files in ${out}`);
    t.ok(near(emit[4]!, real.bytes), `${emit[4]}: ${real.bytes} bytes in ${out}`);
  }
  const digest = (JSON.parse(readFileSync(join(oci, "index.json"), "utf8")) as { manifests: { digest: string }[] }).manifests[0]!.digest;
  t.ok(
    lines.some((l) => l.startsWith(`write the OCI image layout ${oci}: ${digest} (`)),
    `the image line names ${digest}`,
  );
  t.match(r.shown, /\x1b\[1m\[1\/1\]\x1b\[0m/, "counts in bold");
  t.notOk(
    lines.some((l) => / \.\.\.$/.test(l)),
    "every step's line was completed",
  );
});

t.test("on a terminal with NO_COLOR: the same steps, no colour", async (t) => {
  const r = onTerminal(["/bin/true", join(dir, "plain"), "--compress"], { NO_COLOR: "1" });
  t.equal(r.status, 0, r.shown);
  t.match(r.shown, /\[1\/1\] compress \/bin\/true with UPX/);
  t.notMatch(r.shown, /\x1b\[[0-9;]*m/, "no SGR (colour) sequence");
});

t.test("on a terminal with --log-level Off: nothing", async (t) => {
  const r = onTerminal(["/bin/true", join(dir, "off"), "--compress", "--log-level", "Off"]);
  t.equal(r.status, 0, r.shown);
  t.equal(r.shown, "");
});

t.test("a failing step's line is ended before the error", async (t) => {
  const r = onTerminal(["/bin/true", join(dir, "fails"), "--test", "--busybox", busybox, "--test-command", "false"]);
  t.not(r.status, 0);
  const lines = screen(r.shown);
  const at = lines.findIndex((l) => l.startsWith("test the bundle in a jail: false ..."));
  t.ok(at >= 0, "the test step's line");
  t.ok(lines.length > at + 1 && !lines[at + 1]!.startsWith("test the bundle"), `the error on a line of its own: ${JSON.stringify(lines.slice(at))}`);
});

t.test("without a terminal: no progress at all", async (t) => {
  const r = spawnSync(process.execPath, [bin, "/bin/true", join(dir, "piped"), "--compress", "--dynamic"], { encoding: "utf8", env: baseEnv });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, "", "stderr is empty");
  t.equal(r.stdout, "");
});
