// Running a helper process to its end with its output collected: the jail (unshare), the strace
// fallback and the native addon's helper each need exactly this, with their own reading of the result.

import { spawn } from "node:child_process";

export interface ProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string | undefined;
  /** Written to its standard input, which is then closed (closed at once when absent). */
  stdin?: string | Buffer | undefined;
  /** SIGKILL after this long. */
  timeoutMs?: number | undefined;
  /** Start it as a process group leader and kill the whole group on timeout (a traced tree). */
  killGroup?: boolean;
  /** Called with the child's pid once it has started (its process group's id with killGroup). */
  onSpawn?: (pid: number) => void;
}

export interface ProcessResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Killed because timeoutMs passed. */
  timedOut?: boolean;
}

/** Runs `command` to its end. Rejects only when it cannot be started (the spawn error). */
export function runProcess(command: string, args: readonly string[], options: ProcessOptions = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"], detached: options.killGroup === true });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    let timedOut = false;
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.stdin.on("error", () => undefined); // it may exit without reading its input
    child.stdin.end(options.stdin ?? "");
    const kill = (): void => {
      if (options.killGroup) {
        // No pid: the spawn failed and there is no group either.
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, "SIGKILL");
            return;
          } catch {
            // already gone as a group: kill the child itself
          }
        }
      }
      child.kill("SIGKILL");
    };
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            kill();
          }, options.timeoutMs)
        : null;
    child.on("error", (error) => {
      if (timer) clearTimeout(timer);
      reject(error);
    });
    child.on("close", (status, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, ...(timedOut ? { timedOut } : {}) });
    });
  });
}
