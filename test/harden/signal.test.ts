// Issue #13.5: a signal during the copy of a large file is handled at once, not after the copy. A
// 2 GiB sparse file is --included (reading its holes costs no disk; the copy writes real zeros,
// several seconds of writing here). SIGTERM or SIGINT is sent as soon as its staged copy has
// 64 MiB; the run must exit 143 or 130 within 3 s, long before the copy could have ended, and
// leave neither OUTPUT nor its staging directory nor its lock.

import t from "tap";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "magicpak-signal-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const SIZE = 2 * 1024 ** 3;
const big = join(scratch, "big.img");
writeFileSync(big, "");
truncateSync(big, SIZE);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const leftovers = () => readdirSync(scratch).filter((n) => n.includes(".magicpak"));

/** Size of the staged copy of `big` (0 while there is none yet). */
function stagedSize(outName: string): number {
  for (const name of readdirSync(scratch)) {
    if (!name.startsWith(`.${outName}.magicpak-`)) continue;
    try {
      return statSync(join(scratch, name, big)).size;
    } catch {
      return 0;
    }
  }
  return 0;
}

for (const [signal, status] of [
  ["SIGTERM", 143],
  ["SIGINT", 130],
] as const) {
  t.test(`${signal} during the copy of a 2 GiB file: exit ${status} at once, nothing left`, async (t) => {
    const outName = `out-${signal}`;
    const out = join(scratch, outName);
    const child = spawn(process.execPath, [bin, "/bin/true", out, "--include", big], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once("exit", (c, s) => r([c, s])));
    let staged = 0;
    const deadline = Date.now() + 120_000;
    while ((staged = stagedSize(outName)) < 64 * 1024 ** 2 && Date.now() < deadline && child.exitCode === null) await sleep(5);
    t.ok(staged >= 64 * 1024 ** 2 && staged < SIZE, `the copy was under way (${(staged / 1024 ** 2).toFixed(0)} MiB of ${SIZE / 1024 ** 2} MiB staged)`);
    const sent = Date.now();
    child.kill(signal);
    const [code, killedBy] = await exited;
    const latency = Date.now() - sent;
    t.equal(code, status, `exit ${status} (got ${code} ${killedBy ?? ""}; stderr ${JSON.stringify(stderr)})`);
    t.ok(latency < 3000, `exited ${latency} ms after ${signal}, not after the copy`);
    t.notOk(existsSync(out), "no OUTPUT");
    t.same(leftovers(), [], "no staging directory, no lock");
    console.error(`# ${signal} at ${(staged / 1024 ** 2).toFixed(0)} MiB of a 2048 MiB copy: exit ${code} after ${latency} ms`);
  });
}
