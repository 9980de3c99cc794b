// A worker thread that runs the built-in UPX (lib/compress/wasm.ts) for lib/compress/upx.ts.
// It receives the compiled WebAssembly.Module with its first job (structured clone: the compiled
// code is shared, not recompiled) and keeps it for the jobs after.

import { parentPort } from "node:worker_threads";
import { adoptUpxModule, glue, runUpxHere, upxModuleSync } from "./wasm.js";

export interface Job {
  id: number;
  args: string[];
  env: Record<string, string>;
  module?: WebAssembly.Module;
}

// Load the glue while the main thread compiles the module.
glue();

const port = parentPort;
if (!port) throw new Error("lib/compress/worker.js runs only as a worker thread (lib/compress/upx.ts starts it)");
port.on("message", (job: Job) => {
  if (job.module) adoptUpxModule(job.module);
  const result = runUpxHere(job.args, job.env, upxModuleSync());
  port.postMessage({ id: job.id, ...result });
});
