// The two errors of a jail test. TestFailure: the program did not behave in the jail (its exit
// status, output, a timeout or a missing file). JailError: the jail itself could not be built or
// started (no busybox, an emulator missing, a mount the kernel refused): never the program's fault.
// lib/bundle turns a JailError into a BundleError; both print as one line.

import { PathError } from "../errors.js";

export class TestFailure extends Error {
  override readonly name = "TestFailure";
}

export class JailError extends PathError {
  override readonly name = "JailError";
  constructor(
    path: string,
    problem: string,
    /** The set-up step's own words, when a step in the jail failed. */
    readonly step?: string,
  ) {
    super(path, problem);
  }
}
