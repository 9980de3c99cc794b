// Fault injection (issue #13): a real bundle (the host's python3 with its whole standard library,
// about 80 MB) is SIGKILLed at random moments. After every kill OUTPUT is absent or complete and
// identical to a reference run; after the next successful run nothing is left beside it (no
// .OUT.magicpak-* staging directory, no lock). 30 kills with CI=true, 8 otherwise.

import t from "tap";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "magicpak-kill-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const stdlib = readdirSync("/usr/lib")
  .filter((n) => /^python3\.\d+$/.test(n))
  .map((n) => `/usr/lib/${n}`)[0];
const args = (out: string) => ["/usr/bin/python3", out, "--log-level", "Error", ...(stdlib ? ["--include", stdlib] : [])];
const kills = process.env["CI"] === "true" ? 30 : 8;

/** Every entry of a tree: type, mode, mtime, size and content (or link text), sorted. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string, rel: string) => {
    const st = lstatSync(path);
    let what = "";
    if (st.isSymbolicLink()) what = `-> ${readlinkSync(path)}`;
    else if (st.isFile()) what = createHash("sha256").update(readFileSync(path)).digest("hex");
    out.push(`${rel} ${st.mode.toString(8)} ${Math.floor(st.mtimeMs)} ${st.isDirectory() ? 0 : st.size} ${what}`);
    if (st.isDirectory()) for (const name of readdirSync(path).sort()) walk(join(path, name), `${rel}/${name}`);
  };
  walk(dir, "");
  return out;
}

const leftovers = () => readdirSync(scratch).filter((n) => n.includes(".magicpak"));

t.test(`SIGKILL at random moments (${kills} kills): never a partial OUTPUT, nothing left after the next run`, async (t) => {
  if (!existsSync("/usr/bin/python3")) throw new Error("/usr/bin/python3 is missing on this host (apt-get install python3-minimal): the fault injection bundles it");
  const reference = join(scratch, "reference");
  const started = Date.now();
  const ref = spawnSync(process.execPath, [bin, ...args(reference)], { encoding: "utf8" });
  t.equal(ref.status, 0, ref.stderr);
  const duration = Date.now() - started;
  const expected = snapshot(reference);
  const out = join(scratch, "out");
  const outcomes = { absent: 0, complete: 0, partial: 0 };
  for (let i = 0; i < kills; i++) {
    const delay = Math.floor(Math.random() * duration * 1.1);
    const child = spawn(process.execPath, [bin, ...args(out)], { stdio: "ignore" });
    const exited = new Promise((r) => child.once("exit", r)); // attached now: a fast run may end before the kill
    await new Promise((r) => setTimeout(r, delay));
    child.kill("SIGKILL");
    await exited;
    if (!existsSync(out)) outcomes.absent++;
    else if (JSON.stringify(snapshot(out)) === JSON.stringify(expected)) {
      outcomes.complete++;
      rmSync(out, { recursive: true });
    } else {
      outcomes.partial++;
      t.fail(`kill ${i} after ${delay} ms left a partial OUTPUT`);
      rmSync(out, { recursive: true });
    }
    // Every fourth kill and after the last, the next successful run cleans up what the kills left.
    if (i % 4 === 3 || i === kills - 1) {
      const next = spawnSync(process.execPath, [bin, ...args(out)], { encoding: "utf8" });
      t.equal(next.status, 0, `the run after kill ${i} succeeds: ${next.stderr}`);
      t.same(snapshot(out), expected, "and writes the same tree as the reference");
      t.same(leftovers(), [], "nothing left beside OUTPUT (no staging, no lock)");
      rmSync(out, { recursive: true });
    }
  }
  t.equal(outcomes.partial, 0, `kills: ${kills}; OUTPUT absent ${outcomes.absent}, complete ${outcomes.complete}, partial ${outcomes.partial}`);
  console.error(`# fault injection: ${kills} SIGKILLs, OUTPUT absent ${outcomes.absent}, complete ${outcomes.complete}, partial ${outcomes.partial}`);
});

t.test("SIGTERM during a run removes its staging and lock and exits 143", async (t) => {
  const out = join(scratch, "term");
  const child = spawn(process.execPath, [bin, ...args(out)], { stdio: "ignore" });
  const exited = new Promise<[number | null, string | null]>((r) => child.once("exit", (c, s) => r([c, s])));
  await new Promise((r) => setTimeout(r, 150));
  child.kill("SIGTERM");
  const [code, signal] = await exited;
  t.ok(code === 143 || code === 0 || signal === "SIGTERM", `exit ${code} ${signal}`);
  t.same(leftovers(), [], "nothing left");
  if (existsSync(out)) rmSync(out, { recursive: true });
});
