// --test: the plan, as a jail that is the FROM scratch image, runs the test command (each input's
// name by default); inputs of another architecture run through qemu-user.

import { posix } from "node:path";
import { testInJail, JailError, type JailTest } from "../../jail/jail.js";
import { BundleError } from "../errors.js";
import type { Plan } from "../plan.js";

export async function test(plan: Plan): Promise<void> {
  const test = plan.options.test;
  if (!test) return;
  const tests: JailTest[] =
    test.command !== undefined
      ? [{ command: test.command, stdin: test.stdin, expectedStdout: test.stdout }]
      : plan.options.inputs.map((input) => ({ command: posix.basename(input), stdin: test.stdin, expectedStdout: test.stdout }));
  plan.log("Info", `test the bundle: ${tests.map((t) => t.command).join("; ")}`);
  // The inputs' architecture (their loads come first): another than this machine's is emulated.
  const architectures = plan.loads.slice(0, plan.options.inputs.length).map((load) => load.abi);
  const { busybox, emulator, timeoutMs, network } = test;
  const step = plan.progress.step(`test the bundle in a jail: ${tests.map((t) => t.command).join("; ")}`);
  try {
    const isolation = await testInJail(plan.graph, tests, {
      ...(busybox !== undefined ? { busybox } : {}),
      ...(emulator !== undefined ? { emulator } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(network !== undefined ? { network } : {}),
      architectures,
      warn: (message) => plan.log("Warn", message),
    });
    plan.log("Info", `the test passed (jail isolation: ${isolation})`);
    step.done("passed");
  } catch (error) {
    // A jail that could not be built is a bundle error; a TestFailure is the program's.
    if (error instanceof JailError) throw new BundleError(error.path, error.problem);
    throw error;
  }
}
