// Issue #13.2, time of check and time of use: a root whose library directory is swapped for a
// symlink to the host's while magicpak runs. The root's libc carries a marker, so the host's
// (/usr/lib/x86_64-linux-gnu/libc.so.6, read from the host itself) is told apart by its bytes.
// Whatever the timing, a run either bundles the root's own libc or stops with one line and writes
// nothing: never a byte of the host's. 30 racing runs with CI=true, 10 otherwise.

import t from "tap";
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addProgram, makeMiniRoot } from "../support/mini-root.js";
import { bundle, emitBundle, FileGraph, imageDefaults, writeOciArchive, type FileNode } from "../../lib/index.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const HOST_LIBDIR = "/usr/lib/x86_64-linux-gnu";
const scratch = mkdtempSync(join(tmpdir(), "magicpak-race-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const hostLibc = readFileSync(join(HOST_LIBDIR, "libc.so.6"));
const hostLoader = readFileSync(join(HOST_LIBDIR, "ld-linux-x86-64.so.2"));
const MARKER = "\0magicpak-race-test: the root's own copy\0";

/** A mini root whose libc and loader end with MARKER (trailing bytes change nothing for ld.so). */
function markedRoot() {
  const r = makeMiniRoot();
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }));
  addProgram(r, "other", []);
  for (const name of ["libc.so.6", "ld-linux-x86-64.so.2"]) appendFileSync(join(r.dir, r.libdir, name), MARKER);
  return r;
}

/** Files under `dir` whose bytes are the host's libc or loader. */
function hostFilesIn(dir: string): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    const st = lstatSync(path);
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
    else if (st.isFile() && (st.size === hostLibc.length || st.size === hostLoader.length)) {
      const bytes = readFileSync(path);
      if (bytes.equals(hostLibc) || bytes.equals(hostLoader)) found.push(path);
    }
  };
  if (existsSync(dir)) walk(dir);
  return found;
}

/** Swaps the root's lib directory for an absolute symlink to the host's and back, every 0-3 ms. */
function startSwapper(libdir: string) {
  const script = `
    const fs = require("fs");
    const [dir, host] = process.argv.slice(1);
    const aside = dir + "-orig";
    const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.random() * 3);
    process.on("SIGTERM", () => {
      try { fs.unlinkSync(dir); } catch {}
      try { fs.renameSync(aside, dir); } catch {}
      process.exit(0);
    });
    setInterval(() => {}, 1 << 30);
    (async () => { for (;;) {
      fs.renameSync(dir, aside); fs.symlinkSync(host, dir); pause();
      fs.unlinkSync(dir); fs.renameSync(aside, dir); pause();
      await new Promise((r) => setImmediate(r));
    } })();`;
  const child = spawn(process.execPath, ["-e", script, libdir, HOST_LIBDIR], { stdio: "ignore" });
  return async () => {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
}

const runs = process.env["CI"] === "true" ? 30 : 10;
t.test(`${runs} runs against a background swapper: 0 host files in OUTPUT`, async (t) => {
  const r = markedRoot();
  const stop = startSwapper(join(r.dir, r.libdir));
  const outcomes = { bundled: 0, changed: 0, otherError: 0 };
  const errors = new Set<string>();
  let hostFiles = 0;
  try {
    for (let i = 0; i < runs; i++) {
      const out = join(scratch, `out-${i}`);
      const res = spawnSync(process.execPath, [bin, "--root", r.dir, "/usr/bin/other", out], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" }, timeout: 120_000 });
      hostFiles += hostFilesIn(out).length;
      if (res.status === 0) {
        outcomes.bundled++;
        const libc = readFileSync(join(out, r.libdir, "libc.so.6"));
        t.ok(libc.subarray(-MARKER.length).toString("latin1") === MARKER, `run ${i}: the bundled libc is the root's`);
      } else {
        t.equal(res.status, 1, `run ${i}: exit 1 (${res.stderr.trim()})`);
        const lines = res.stderr.split("\n").filter((l) => l !== "");
        t.equal(lines.length, 1, `run ${i}: one line`);
        t.notMatch(res.stderr, /internal error|\n\s+at /, `run ${i}: no internal error, no stack`);
        t.notOk(existsSync(out), `run ${i}: OUTPUT absent`);
        if (/changed while magicpak was running/.test(res.stderr)) outcomes.changed++;
        else outcomes.otherError++;
        errors.add(lines[0]!.replace(/\d+/g, "N"));
      }
      rmSync(out, { recursive: true, force: true });
    }
  } finally {
    await stop();
  }
  t.equal(hostFiles, 0, `host files in OUTPUT over ${runs} runs: ${hostFiles}`);
  t.same(
    readdirSync(scratch).filter((n) => n.includes(".magicpak")),
    [],
    "no staging sibling or lock left",
  );
  console.error(
    `# swap race: ${runs} runs, bundled the root's libc ${outcomes.bundled}, "changed while magicpak was running" ${outcomes.changed}, other one-line errors ${outcomes.otherError} (${[...errors].join(" | ")}), host files in OUTPUT ${hostFiles}`,
  );
});

/**
 * The plan a racing lstat could make: while the lib directory was a symlink to the host's, the
 * stat of ROOT/usr/lib/x86_64-linux-gnu/libc.so.6 followed it and recorded the host libc's inode.
 */
function racedPlan(r: ReturnType<typeof markedRoot>): FileGraph {
  const source = `${r.libdir}/libc.so.6`;
  const host = statSync(join(HOST_LIBDIR, "libc.so.6"));
  const graph = new FileGraph();
  const node: FileNode = {
    kind: "file",
    path: source,
    source,
    hostSource: r.dir + source,
    size: host.size,
    identity: `${host.dev}:${host.ino}`,
    mtimeMs: host.mtimeMs,
    mode: 0o755,
    reasons: [{ kind: "input", path: source }],
  };
  graph.add(node);
  return graph;
}

function swapIn(r: ReturnType<typeof markedRoot>): () => void {
  const dir = join(r.dir, r.libdir);
  renameSync(dir, `${dir}-orig`);
  symlinkSync(HOST_LIBDIR, dir);
  return () => {
    rmSync(dir);
    renameSync(`${dir}-orig`, dir);
  };
}

t.test("a plan that recorded the host's inode through a swapped directory: the host file is never opened", async (t) => {
  const r = markedRoot();
  const graph = racedPlan(r);
  const image = imageDefaults(graph, `${r.libdir}/libc.so.6`);
  const restore = swapIn(r);
  const out = join(scratch, "raced");
  await t.rejects(emitBundle(graph, out), { name: "BundleError", message: /libc\.so\.6: changed while magicpak was running \(Not a directory\)/ });
  t.notOk(existsSync(out), "OUTPUT absent");
  const archive = join(scratch, "raced.tar");
  await t.rejects(writeOciArchive(graph, archive, image), { name: "ImageError", message: /libc\.so\.6: changed while magicpak was running \(Not a directory\)/ });
  t.notOk(existsSync(archive), "archive absent");
  restore();
  // Directory back in place: the path is a real file again, but not the inode the plan recorded.
  await t.rejects(emitBundle(graph, out), { message: /changed while magicpak was running \(no longer the file that was analysed\)/ });
  t.same(hostFilesIn(scratch), []);
});

t.test("bundle(), then the lib directory is swapped, then the image writer: refused, nothing written", async (t) => {
  const r = markedRoot();
  const plan = await bundle({ inputs: ["/usr/bin/other"], root: r.dir });
  const image = imageDefaults(plan.graph, "/usr/bin/other");
  const restore = swapIn(r);
  const archive = join(scratch, "swapped.tar");
  await t.rejects(writeOciArchive(plan.graph, archive, image), { name: "ImageError", message: /changed while magicpak was running/ });
  t.notOk(existsSync(archive), "archive absent");
  restore();
  await writeOciArchive(plan.graph, archive, image);
  t.ok(existsSync(archive), "written once the root is back");
  t.same(
    readdirSync(scratch).filter((n) => n.includes(".magicpak")),
    [],
  );
});
