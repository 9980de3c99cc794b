// Issue #13 item 8: the bundle and its OCI layout do not depend on the umask or the clock. Two runs
// under umask 077 and 022, started at different times, give identical trees (mode, mtime, content
// of every entry) and identical OCI digests.

import t from "tap";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addProgram, makeMiniRoot } from "../support/mini-root.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "magicpak-determinism-"));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const root = makeMiniRoot();
t.teardown(() => rmSync(root.dir, { recursive: true, force: true }));
addProgram(root, "other", []);

function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string, rel: string) => {
    const st = lstatSync(path);
    const what = st.isSymbolicLink() ? `-> ${readlinkSync(path)}` : st.isFile() ? createHash("sha256").update(readFileSync(path)).digest("hex") : "";
    out.push(`${rel} ${st.mode.toString(8)} ${st.isSymbolicLink() ? "" : Math.floor(st.mtimeMs / 1000)} ${what}`);
    if (st.isDirectory()) for (const name of readdirSync(path).sort()) walk(join(path, name), `${rel}/${name}`);
  };
  walk(dir, "");
  return out;
}

function run(umask: string, name: string) {
  const out = join(scratch, `${name}-out`);
  const oci = join(scratch, `${name}-oci`);
  const r = spawnSync(
    "sh",
    ["-c", `umask ${umask}; exec "$0" "$@"`, process.execPath, bin, "--root", root.dir, "--passwd", "--tmp", "--mkdir", "/var/lib/app/data", "/usr/bin/other", out, "--oci", oci],
    {
      encoding: "utf8",
      env: { PATH: "/usr/bin:/bin" },
    },
  );
  return { r, out, oci };
}

t.test("umask 077 and 022, one second apart: identical trees and OCI layouts", async (t) => {
  const a = run("077", "a");
  t.equal(a.r.status, 0, a.r.stderr);
  await new Promise((r) => setTimeout(r, 1100));
  const b = run("022", "b");
  t.equal(b.r.status, 0, b.r.stderr);
  t.same(snapshot(a.out), snapshot(b.out), "bundle trees identical (mode, mtime, content)");
  t.same(snapshot(a.oci), snapshot(b.oci), "OCI layouts identical, digests included");
  t.equal(lstatSync(join(a.out, "var/lib")).mode & 0o7777, 0o755, "an implied directory is 0755 under umask 077");
  t.equal(lstatSync(join(a.out, "etc/passwd")).mtimeMs, 0, "a generated file has mtime SOURCE_DATE_EPOCH or 0");
  t.equal(lstatSync(join(a.oci, "blobs")).mode & 0o7777, 0o755, "OCI layout directories 0755 under umask 077");
});
