/** What one UPX run gives: its exit status and what it wrote to stdout and stderr. */
export interface UpxRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Set when UPX did not exit by itself: the built-in one trapped (out of memory, a bug), or the native one was killed. */
  crash?: string;
}
