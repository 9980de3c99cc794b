// The built-in UPX (WebAssembly) against native UPX 4.2.4 (trixie's upx-ucl): for ls, bash and a
// static binary, with default arguments, --best and --lzma, the packed files are byte-identical;
// the native upx accepts them with -t; -d restores the original byte for byte through both; the
// packed programs run and print what the originals print.

import t from "tap";
import { spawnSync } from "node:child_process";
import { copyFileSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { compressFile, runUpx } from "../../lib/index.js";
import { nativeUpx, scratchDir, staticHello } from "./support.js";

const upx = nativeUpx(t);
const dir = scratchDir(t, "compress-identity");

// Each program with a command line whose output the packed copy must reproduce.
const programs: Array<{ name: string; path: string; args: string[] }> = [
  { name: "ls", path: "/usr/bin/ls", args: ["--version"] },
  { name: "bash", path: "/usr/bin/bash", args: ["-c", "echo $((6 * 7)) ${BASH_VERSINFO[0]}"] },
  { name: "static hello", path: staticHello(t, dir), args: [] },
];
const argSets: string[][] = [[], ["--best"], ["--lzma"]];

function runProgram(path: string, args: string[]) {
  const r = spawnSync(path, args, { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const program of programs) {
  for (const upxArgs of argSets) {
    const label = `${program.name} ${upxArgs.join(" ") || "(default)"}`;
    t.test(label, async (t) => {
      if (upx === "") return;
      const slug = `${program.name.replace(/\W/g, "_")}${upxArgs.join("")}`;
      // UPX reads the input's name into nothing it writes, but the tests use a private copy anyway
      // so that both runs see the very same file.
      const input = join(dir, `${slug}.orig`);
      copyFileSync(program.path, input);
      const builtIn = join(dir, `${slug}.wasm.upx`);
      const native = join(dir, `${slug}.native.upx`);

      const [w, n] = await Promise.all([compressFile(input, builtIn, upxArgs), compressFile(input, native, upxArgs, { upx })]);
      t.equal(w.engine, "built-in");
      t.equal(n.engine, upx);
      t.equal(w.inputSize, statSync(input).size);
      t.equal(w.outputSize, statSync(builtIn).size, "the reported size is the file's");
      t.equal(w.outputSize, n.outputSize, "same size as native UPX");
      t.ok(w.outputSize < w.inputSize, "smaller than the input");
      t.ok(readFileSync(builtIn).equals(readFileSync(native)), "byte-identical to native UPX 4.2.4's output");
      t.match(w.stdout, /Packed 1 file/, "UPX's report is returned, not printed");

      // UPX copies mode and mtime to its output (the wasm build to the second).
      const [si, sw] = [statSync(input), statSync(builtIn)];
      t.equal(sw.mode, statSync(native).mode, "the same mode as native UPX gives");
      t.equal(Math.floor(sw.mtimeMs / 1000), Math.floor(si.mtimeMs / 1000), "the input's mtime");

      const tested = await runUpx(["-t", "--no-progress", builtIn], { upx });
      t.equal(tested.exitCode, 0, `native upx -t accepts it: ${tested.stderr}`);
      t.match(tested.stdout, /\[OK\]/);

      const [dw, dn] = await Promise.all([runUpx(["-d", "--no-progress", builtIn, "-o", `${builtIn}.d-wasm`]), runUpx(["-d", "--no-progress", builtIn, "-o", `${builtIn}.d-native`], { upx })]);
      t.equal(dw.exitCode, 0, dw.stderr);
      t.equal(dn.exitCode, 0, dn.stderr);
      const original = readFileSync(input);
      t.ok(readFileSync(`${builtIn}.d-wasm`).equals(original), "the built-in upx -d restores the original byte for byte");
      t.ok(readFileSync(`${builtIn}.d-native`).equals(original), "native upx -d restores the original byte for byte");

      const expected = runProgram(input, program.args);
      const packed = runProgram(builtIn, program.args);
      t.equal(expected.status, 0, expected.stderr);
      t.same(packed, expected, "the packed program runs and prints what the original prints");
    });
  }
}
