// Runs one blocking call of the native addon off the main thread: as a worker thread (the job in
// workerData, the answer posted back), or as a helper process (the job as JSON on stdin, the answer
// as JSON on stdout) when the loader must see an environment of its own. See addon.ts.

import { createRequire } from "node:module";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import type { NativeAddon, WorkerAnswer, WorkerJob } from "./addon.js";

function perform(job: WorkerJob): WorkerAnswer {
  try {
    const addon = createRequire(import.meta.url)(job.addonPath) as NativeAddon;
    if (job.op === "trace") return { ok: true, result: addon.trace(job.request) };
    return { ok: true, result: addon.dlopenResolve(job.names, job.timeoutMs === undefined ? undefined : { timeoutMs: job.timeoutMs }) };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

if (!isMainThread && parentPort) {
  parentPort.postMessage(perform(workerData as WorkerJob));
} else {
  let input = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (d: string) => (input += d));
  process.stdin.on("end", () => {
    let answer: WorkerAnswer;
    try {
      answer = perform(JSON.parse(input) as WorkerJob);
    } catch (error) {
      answer = { ok: false, error: `bad request: ${(error as Error).message}` };
    }
    process.stdout.write(JSON.stringify(answer));
  });
}
