// One built-in UPX measurement in a fresh process, for bench/upx.ts (which runs it under
// /usr/bin/time for the peak RSS). Arguments: MODE OUTPUT-PREFIX INPUT [UPX-ARGS...]
//   MODE "compress": compress INPUT twice: the first run pays for the worker, the module's
//        compilation and V8's lazy compilation; the second runs with all of that warm.
//   MODE "version": the compressor's start-up: import it and run `upx --version` once, then
//        INPUT (a count) more times warm.
//   MODE "noop": nothing (Node's own start-up with this script, the baseline).
// Prints one line of JSON.

const [mode, prefix, input, ...upxArgs] = process.argv.slice(2);
const ms = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e6;

if (mode === "noop") {
  process.stdout.write("{}");
} else if (mode === "compress") {
  const { compressFile } = await import("../lib/compress/upx.js");
  let t = process.hrtime.bigint();
  const first = await compressFile(input!, `${prefix}.1`, upxArgs);
  const coldMs = ms(t);
  t = process.hrtime.bigint();
  await compressFile(input!, `${prefix}.2`, upxArgs);
  const warmMs = ms(t);
  process.stdout.write(JSON.stringify({ coldMs, warmMs, outputSize: first.outputSize }));
} else if (mode === "version") {
  const sinceStart = performance.now();
  const { runUpx } = await import("../lib/compress/upx.js");
  const r = await runUpx(["--version"]);
  const firstDoneAt = performance.now();
  const warm: number[] = [];
  for (let i = 0; i < Number(input ?? 20); i++) {
    const t = process.hrtime.bigint();
    await runUpx(["--version"]);
    warm.push(ms(t));
  }
  process.stdout.write(JSON.stringify({ exitCode: r.exitCode, firstMs: firstDoneAt - sinceStart, firstSinceProcessStart: firstDoneAt, warm }));
} else {
  throw new Error(`unknown mode ${mode}`);
}
