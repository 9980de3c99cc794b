// What the compressor API does when UPX cannot pack a file, with UPX's own reasons taken from the
// native UPX 4.2.4 at test time; that it prints nothing; that it passes the environment through;
// that concurrent runs do not disturb each other.

import t, { type Test } from "tap";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CompressError, compressFile, type CompressOptions } from "../../lib/index.js";
import { nativeUpx, scratchDir } from "./support.js";

const upx = nativeUpx(t);
const dir = scratchDir(t, "compress-errors");
let counter = 0;
const fresh = (name: string) => join(dir, `${++counter}-${name}`);

async function rejection(input: string, output: string, args: string[], options: CompressOptions = {}): Promise<CompressError> {
  try {
    await compressFile(input, output, args, options);
  } catch (error) {
    if (error instanceof CompressError) return error;
    throw error;
  }
  throw new Error(`compressing ${input} did not fail`);
}

/** The same failure from the built-in and the native UPX: the reason and kind come from the native one. */
async function sameFailure(t: Test, input: string, expectedFailure: string, expectedReason: RegExp) {
  const [w, n] = await Promise.all([rejection(input, fresh("wasm.upx"), []), rejection(input, fresh("native.upx"), [], { upx })]);
  t.equal(n.failure, expectedFailure, `native UPX: ${n.message}`);
  t.match(n.reason, expectedReason);
  t.equal(w.reason, n.reason, "the built-in UPX gives native UPX's reason");
  t.equal(w.failure, n.failure);
  t.equal(w.exitCode, n.exitCode, "and its exit status");
  t.equal(w.file, input, "the error names the file");
  t.equal(w.message, `${input}: ${n.reason}`);
  return w;
}

t.test("a file too small to pack", async (t) => {
  if (upx === "") return;
  const input = fresh("small");
  writeFileSync(input, "#!/bin/sh\necho hi\n", { mode: 0o755 });
  const e = await sameFailure(t, input, "too-small", /file is too small/);
  t.notOk(existsSync(join(dir, `${counter - 1}-wasm.upx`)), "no output is written");
  t.match(e.upxStderr, /file is too small/);
});

t.test("a file UPX already packed", async (t) => {
  if (upx === "") return;
  const packed = fresh("ls.upx");
  await compressFile("/usr/bin/ls", packed, []);
  await sameFailure(t, packed, "already-packed", /^AlreadyPackedException/);
});

t.test("a file that is not an executable UPX knows", async (t) => {
  if (upx === "") return;
  const input = fresh("text");
  writeFileSync(input, readFileSync("/etc/services"));
  await sameFailure(t, input, "unsupported", /^UnknownExecutableFormatException/);
});

t.test("a missing input", async (t) => {
  if (upx === "") return;
  await sameFailure(t, join(dir, "does-not-exist"), "io", /^FileNotFoundException: .*No such file or directory/);
});

t.test("an output that exists is refused and left alone", async (t) => {
  if (upx === "") return;
  for (const options of [{}, { upx }]) {
    const output = fresh("exists");
    writeFileSync(output, "precious");
    const e = await rejection("/usr/bin/ls", output, [], options);
    t.equal(e.failure, "io");
    t.match(e.reason, /^FileAlreadyExistsException/);
    t.equal(readFileSync(output, "utf8"), "precious");
  }
});

t.test("arguments UPX rejects are a usage failure", async (t) => {
  if (upx === "") return;
  const [w, n] = await Promise.all([rejection("/usr/bin/ls", fresh("w"), ["--no-such-option"]), rejection("/usr/bin/ls", fresh("n"), ["--no-such-option"], { upx })]);
  t.equal(n.failure, "usage");
  t.equal(w.failure, "usage");
  t.equal(w.reason, n.reason);
  t.match(w.reason, /unrecognized option '--no-such-option'/);
});

t.test("a name starting with - is a file, not an option", async (t) => {
  const input = join(dir, "-ls");
  copyFileSync("/usr/bin/ls", input);
  const prev = process.cwd();
  process.chdir(dir);
  try {
    const r = await compressFile("-ls", "-ls.upx", []);
    t.ok(r.outputSize > 0 && existsSync(join(dir, "-ls.upx")));
  } finally {
    process.chdir(prev);
  }
});

t.test("the environment reaches UPX (UPX=--lzma), as with a native upx", async (t) => {
  if (upx === "") return;
  const env = { ...process.env, UPX: "--lzma" };
  const [w, n, plain] = await Promise.all([
    compressFile("/usr/bin/ls", fresh("w.upx"), [], { env }),
    compressFile("/usr/bin/ls", fresh("n.upx"), [], { env, upx }),
    compressFile("/usr/bin/ls", fresh("plain.upx"), [], { env: {} }),
  ]);
  t.ok(readFileSync(w.output).equals(readFileSync(n.output)), "identical to native UPX with the same environment");
  t.not(w.outputSize, plain.outputSize, "and different from a run without it");
});

t.test("concurrent runs of the built-in UPX give the same bytes", async (t) => {
  const outs = await Promise.all([1, 2, 3, 4, 5].map((i) => compressFile("/usr/bin/ls", fresh(`c${i}.upx`), i % 2 ? [] : ["-1"])));
  const odd = outs.filter((_, i) => i % 2 === 0).map((o) => readFileSync(o.output));
  t.ok(odd.every((b) => b.equals(odd[0]!)));
  t.equal(outs.filter((o) => o.outputSize > 0).length, 5);
});

t.test("nothing reaches the process's stdout or stderr, on success or failure", async (t) => {
  const index = new URL("../../lib/index.js", import.meta.url).href;
  const small = fresh("tiny");
  writeFileSync(small, "x");
  const script = `
    import { compressFile, runUpx } from ${JSON.stringify(index)};
    const ok = await compressFile("/usr/bin/ls", ${JSON.stringify(fresh("quiet.upx"))}, []);
    const v = await runUpx(["--version"]);
    let failed = "";
    try { await compressFile(${JSON.stringify(small)}, ${JSON.stringify(fresh("never.upx"))}, []); } catch (e) { failed = e.failure; }
    process.exitCode = ok.outputSize > 0 && v.exitCode === 0 && failed === "too-small" ? 0 : 3;
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, "", "no stdout");
  t.equal(r.stderr, "", "no stderr");
});

t.test("the module is compiled once per process and reused by every run", async (t) => {
  const { upxModule } = await import("../../lib/compress/wasm.js");
  const first = await upxModule();
  await compressFile("/usr/bin/ls", fresh("again.upx"), []);
  t.equal(await upxModule(), first, "the same compiled WebAssembly.Module");
});
