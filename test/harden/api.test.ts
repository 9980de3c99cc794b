// Issue #13 item 9: documented library functions throw documented error classes, and enum-like
// options are validated (TypeError) instead of being accepted.

import t from "tap";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BundleError, Loader, PathError, abiByName, bundle, traceProgram } from "../../lib/index.js";

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  return null;
}

const scratch = mkdtempSync(join(tmpdir(), "magicpak-api-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

t.test("traceProgram: a missing or non-executable program is a PathError naming it", async (t) => {
  const missing = await caught(traceProgram({ argv: ["/nonexistent"] }));
  t.ok(missing instanceof PathError && missing.path === "/nonexistent", String(missing));
  t.match(String((missing as Error).message), /No such file/);
  const plain = join(scratch, "plain");
  writeFileSync(plain, "#!/bin/sh\n", { mode: 0o644 });
  const plainError = await caught(traceProgram({ argv: [plain] }));
  t.ok(plainError instanceof PathError, String(plainError));
  t.match(String((plainError as Error).message), /Permission denied/);
  await t.rejects(traceProgram({ argv: ["/bin/true"] }, "bogus" as never), TypeError);
});

t.test("bundle: an image archive under /proc/self is a BundleError before any work", async (t) => {
  const error = await caught(bundle({ inputs: ["/bin/true"], images: { ociArchive: "/proc/self/x" } }));
  t.ok(error instanceof BundleError, String(error));
  t.match(String((error as Error).message), /^\/proc\/self\/x: /);
});

t.test("Loader: a bogus mode or flavour is a TypeError", async (t) => {
  const loader = new Loader("/");
  t.throws(() => loader.load("/bin/true", { mode: "bogus" as never }), TypeError);
  t.throws(() => loader.config("bogus" as never, abiByName("x86_64")!, "/lib64/ld-linux-x86-64.so.2"), TypeError);
});
