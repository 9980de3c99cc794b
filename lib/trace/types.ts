// What a dynamic trace (--dynamic) reports, whichever tracer produced it.

export interface TraceRequest {
  /** argv[0] is the program (a host path); the rest its arguments (--dynamic-arg). */
  argv: string[];
  /** Standard input, closed after it (or immediately when absent). */
  stdin?: string;
  cwd?: string;
  env?: Record<string, string>;
  /**
   * Run inside chroot(root) (same architecture; needs root): argv[0] and the reported paths are
   * then paths inside the root. Tracers that cannot do this refuse the request.
   */
  root?: string;
  /** Kill the whole traced tree after this long. */
  timeoutMs?: number;
}

/** One successful file access by a traced process, its path made absolute (cwd and dirfd applied). */
export interface TracedAccess {
  pid: number;
  /** The system call, e.g. "openat", "execve", "newfstatat", "readlinkat". */
  syscall: string;
  path: string;
}

export interface TraceResult {
  /** Exit status of the first process, or null when it was killed by a signal. */
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  accesses: TracedAccess[];
  /** Which tracer ran: the native addon's ptrace tracer or strace. */
  tracer: "native" | "strace";
}

/** A tracer that cannot run here (no addon, no strace, no ptrace permission), with the remedy. */
export class TracerUnavailable extends Error {
  override readonly name = "TracerUnavailable";
}
