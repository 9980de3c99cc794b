// The plan bundle({compress}) returns owns the packed bytes: emitting it, or writing an image of it,
// after bundle() has returned (and removed its UPX scratch directory) gives the packed program,
// byte for byte what native UPX 4.2.4 makes of the same input with the same arguments.

import t from "tap";
import { spawnSync } from "node:child_process";
import { copyFileSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundle, compressFile, emitBundle, writeOciLayout, imageDefaults } from "../../lib/index.js";
import { nativeUpx, scratchDir } from "./support.js";

const upx = nativeUpx(t);
const dir = scratchDir(t, "plan-lifetime");

t.test("bundle({compress}) then emitBundle and writeOciLayout of the returned graph", async (t) => {
  if (upx === "") return;
  const input = join(dir, "ls");
  copyFileSync("/usr/bin/ls", input);
  const scratchBefore = readdirSync(tmpdir()).filter((n) => n.startsWith("magicpak-upx-"));
  const { graph } = await bundle({ inputs: [input], compress: { upxArgs: ["--best"] } });
  t.same(
    readdirSync(tmpdir()).filter((n) => n.startsWith("magicpak-upx-")),
    scratchBefore,
    "the UPX scratch directory is gone",
  );

  const out = join(dir, "out");
  await emitBundle(graph, out);
  const reference = join(dir, "ls.native.upx");
  await compressFile(input, reference, ["--best"], { upx });
  t.ok(readFileSync(join(out, input)).equals(readFileSync(reference)), "the emitted input is native UPX's packed file");
  const run = spawnSync(join(out, input), ["--version"], { encoding: "utf8" });
  t.equal(run.status, 0, "the packed program runs");
  t.match(run.stdout, /^ls \(GNU coreutils\)/);

  const layout = join(dir, "layout");
  const result = await writeOciLayout(graph, layout, imageDefaults(graph, input));
  t.match(result.digest, /^sha256:[0-9a-f]{64}$/, "the image is written from the same plan");
});
