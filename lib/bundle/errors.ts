// The error every bundling step throws for something a user can act on (and the --test jail for a
// bad busybox or emulator): the path as the user gave it and the problem, as one line.

import { PathError } from "../errors.js";

export class BundleError extends PathError {
  override readonly name = "BundleError";
}
