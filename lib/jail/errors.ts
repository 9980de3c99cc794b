// The error a jail test reports: the program did not behave in the jail (its exit status, output
// or a missing file), as opposed to a jail that could not be built (BundleError).

export class TestFailure extends Error {
  override readonly name = "TestFailure";
}
