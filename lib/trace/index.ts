// Chooses the tracer for --dynamic: the native addon's ptrace tracer when it is loaded, else strace.

import { accessSync, constants, statSync } from "node:fs";
import { PathError, errnoText } from "../errors.js";
import { findStrace, traceWithStrace } from "./strace.js";
import { TracerUnavailable, type TraceRequest, type TraceResult } from "./types.js";

export type Tracer = (request: TraceRequest) => Promise<TraceResult>;

/** Tracers in order of preference; the native one registers itself when its addon loads. */
const preferred: { name: string; available: () => boolean; run: Tracer; status: () => string }[] = [];

/** `status` says why the tracer is not available, and what to do about it. */
export function registerTracer(name: string, available: () => boolean, run: Tracer, status: () => string = () => "not available"): void {
  preferred.unshift({ name, available, run, status });
}

export const TRACERS = ["auto", "native", "strace"] as const;
export type TracerChoice = (typeof TRACERS)[number];

/** Runs `request` under the chosen tracer ("auto": the native one if loaded, else strace). */
export async function traceProgram(request: TraceRequest, choice: TracerChoice = "auto"): Promise<TraceResult> {
  if (choice !== "auto" && choice !== "native" && choice !== "strace") throw new TypeError(`traceProgram: choice must be "auto", "native" or "strace" (got ${JSON.stringify(choice)})`);
  const program = request.argv[0];
  if (program === undefined || program === "") throw new TypeError("traceProgram: argv must name the program");
  if (!request.root) {
    // The program must be there and executable: a PathError naming it, not a tracer's failure.
    try {
      accessSync(program, constants.X_OK);
      if (!statSync(program).isFile()) throw Object.assign(new Error(), { code: "EACCES" });
    } catch (error) {
      throw new PathError(program, errnoText((error as NodeJS.ErrnoException).code) ?? String(error));
    }
  }
  if (choice !== "strace" && !(request.root && choice === "auto")) {
    if (request.root) throw new TracerUnavailable("only the strace tracer can trace inside --root");
    for (const tracer of preferred) if (tracer.available()) return tracer.run(request);
    if (choice === "native") throw new TracerUnavailable(`the native addon is ${nativeState()}`);
  }
  const strace = findStrace();
  if (strace) return traceWithStrace(request, strace);
  throw new TracerUnavailable(choice === "strace" ? "strace is not on PATH" : `no tracer: strace is not on PATH and the native addon is ${nativeState()}`);
}

function nativeState(): string {
  return preferred.find((t) => t.name === "native")?.status() ?? "not part of this program";
}

export { TracerUnavailable, type TraceRequest, type TraceResult };
