// From the file graph to an image, without container tools: the layer of a real bundle extracts
// (GNU tar) to exactly the tree emit writes; the layer's entries for a crafted graph (implied
// directories, modes, hard links, generated files, no "/" entry, .wh.* refused); entrypoint and
// platform from the graph; option checks; destinations written atomically with nothing left behind
// on failure.

import t from "tap";
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import {
  bundle,
  emitBundle,
  FileGraph,
  ImageError,
  imageDefaults,
  imageEntrypoint,
  imagePlatform,
  layerEntries,
  tarStream,
  writeDockerArchive,
  writeOciArchive,
  writeOciLayout,
  type ImageOptions,
} from "../../lib/index.js";
import { normalizeImageOptions, sourceDateEpoch } from "../../lib/image/config.js";
import { fixture } from "../support/fixtures.js";
import { describeTree, run, scratchDir } from "./support.js";

const dir = scratchDir(t, "layer");
let counter = 0;
const fresh = (name: string) => join(dir, `${name}-${++counter}`);

const { graph: jq } = await bundle({ inputs: ["/usr/bin/jq"] });
const jqOptions: ImageOptions = { ...imageDefaults(jq, "/usr/bin/jq"), tag: "jq:test" };

t.test("the layer of a real bundle extracts to the tree emit writes", async (t) => {
  const emitted = fresh("emitted");
  await emitBundle(jq, emitted);
  const tar = fresh("layer.tar");
  await pipeline(tarStream(layerEntries(jq), { mtime: 0 }), createWriteStream(tar));
  const extracted = fresh("extracted");
  mkdirSync(extracted);
  run("tar", ["-x", "-p", "--numeric-owner", "-f", tar, "-C", extracted]);
  t.same(describeTree(extracted), describeTree(emitted), "same files, modes, contents, link targets, link counts");
  const names = run("tar", ["-t", "-f", tar]).trim().split("\n");
  t.same(names, [...names].sort(), "entries sorted");
  t.notOk(
    names.some((n) => n.startsWith("/") || n.startsWith("./")),
    "relative names, no ./",
  );
});

function file(path: string, hostSource: string, identity: string, mode = 0o644): Parameters<FileGraph["add"]>[0] {
  return { kind: "file", path, source: path, hostSource, size: 0, identity, mode, mtimeMs: 0, reasons: [] };
}

t.test("the entries of a crafted graph", async (t) => {
  const host = fresh("host");
  mkdirSync(host);
  writeFileSync(join(host, "a"), "a");
  const graph = new FileGraph();
  graph.add({ kind: "directory", path: "/", mode: 0o700, reasons: [] });
  graph.add({ kind: "directory", path: "/tmp", mode: 0o1777, reasons: [] });
  graph.add(file("/usr/lib/x/liba.so.1", join(host, "a"), "1:1", 0o755));
  graph.add(file("/opt/same", join(host, "a"), "1:1", 0o755));
  graph.add({ kind: "symlink", path: "/lib", target: "usr/lib", mode: 0o777, reasons: [] });
  graph.add({ kind: "generated", path: "/etc/passwd", content: Buffer.from("root:x:0:0::/:/bin/sh\n"), mode: 0o644, reasons: [] });
  const entries = layerEntries(graph).map((e) => [e.type, e.path, "mode" in e ? e.mode.toString(8) : "", "target" in e ? e.target : ""]);
  t.same(
    entries,
    [
      ["directory", "etc", "755", ""],
      ["file", "etc/passwd", "644", ""],
      ["symlink", "lib", "", "usr/lib"],
      ["directory", "opt", "755", ""],
      ["file", "opt/same", "755", ""],
      ["directory", "tmp", "1777", ""],
      ["directory", "usr", "755", ""],
      ["directory", "usr/lib", "755", ""],
      ["directory", "usr/lib/x", "755", ""],
      ["hardlink", "usr/lib/x/liba.so.1", "755", "opt/same"],
    ],
    "sorted; implied directories 0755; graph modes; the first of an inode is the file, later ones link to it; no entry for /",
  );
  graph.add(file("/usr/lib/.wh.liba", join(host, "a"), "2:2"));
  t.throws(() => layerEntries(graph), new ImageError("/usr/lib/.wh.liba", "a file named .wh.* is a whiteout in an image layer and cannot be stored"));
});

t.test("entrypoint and platform from the graph", async (t) => {
  t.equal(imageEntrypoint(jq, "/usr/bin/jq"), "/usr/bin/jq");
  t.same(imageDefaults(jq, "/usr/bin/jq"), { entrypoint: ["/usr/bin/jq"], architecture: "amd64", os: "linux" });
  const { graph: bash } = await bundle({ inputs: ["/bin/bash"] });
  t.equal(imageEntrypoint(bash, "/bin/bash"), "/bin/bash", "the path as given, through the /bin link (argv[0] stays bash)");
  const { graph: python } = await bundle({ inputs: ["/usr/bin/python3"], exclude: ["/usr/lib/python3*"] });
  t.equal(imageEntrypoint(python, "/usr/bin/python3"), "/usr/bin/python3", "a symlinked input keeps its name");
  const { graph: installed } = await bundle({ inputs: ["/usr/bin/python3"], installTo: "/app/", exclude: ["/usr/lib/python3*"] });
  t.equal(imageEntrypoint(installed, "/usr/bin/python3"), "/app/python3", "--install-to");
  t.same(imageDefaults(installed, "/usr/bin/python3").entrypoint, ["/app/python3"]);
  const { graph: jqApp } = await bundle({ inputs: ["/usr/bin/jq"], installTo: "/srv/tool" });
  t.equal(imageEntrypoint(jqApp, "/usr/bin/jq"), "/srv/tool");
  const { graph: excluded } = await bundle({ inputs: ["/usr/bin/jq"], exclude: ["/usr/bin/jq"] });
  t.throws(() => imageEntrypoint(excluded, "/usr/bin/jq"), { name: "ImageError", message: /is not in the bundle/ });
  t.throws(() => imagePlatform("/etc/passwd"), { name: "ImageError", message: /^\/etc\/passwd: cannot tell the image platform/ });
  const { graph: arm } = await bundle({ inputs: ["/usr/bin/bash"], root: fixture("MAGICPAK_ARM64_ROOT") });
  t.same(imageDefaults(arm, "/usr/bin/bash"), { entrypoint: ["/usr/bin/bash"], architecture: "arm64", variant: "v8", os: "linux" });
});

t.test("options are checked and normalised", async (t) => {
  const base: ImageOptions = { entrypoint: ["/x"], architecture: "amd64", os: "linux" };
  const n = normalizeImageOptions({ ...base, env: ["A=1", "PATH=/bin", "B=", "A=2"], labels: { z: "1", a: "2" }, tag: "registry.example:5000/team/tool" });
  t.same(n.env, ["PATH=/bin", "A=2", "B="], "PATH replaced in place; the last of a name wins");
  t.same(Object.keys(n.labels!), ["a", "z"], "labels sorted");
  t.equal(n.refName, "registry.example:5000/team/tool");
  t.equal(n.repoTag, "registry.example:5000/team/tool:latest", ":latest added for Docker");
  t.equal(normalizeImageOptions({ ...base, tag: "tool:1.2" }).repoTag, "tool:1.2");
  t.equal(n.workdir, "/");
  t.same(normalizeImageOptions(base).env, ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
  t.throws(() => normalizeImageOptions({ ...base, env: ["NOVALUE"] }), new ImageError("--env NOVALUE", "expected NAME=VALUE"));
  t.throws(() => normalizeImageOptions({ ...base, workdir: "app" }), { name: "ImageError" });
  t.throws(() => normalizeImageOptions({ ...base, tag: "Tool:1" }), { name: "ImageError", message: /not a valid image reference/ });
  t.throws(() => normalizeImageOptions({ ...base, tag: "tool:" }), { name: "ImageError" });
  t.throws(() => normalizeImageOptions({ ...base, user: "a:b:c" }), { name: "ImageError" });
  t.throws(() => normalizeImageOptions({ ...base, entrypoint: [] }), { name: "ImageError" });
  t.equal(sourceDateEpoch({}), 0);
  t.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: "1700000000" }), 1_700_000_000);
  t.throws(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: "yesterday" }), {
    name: "EnvironmentError",
    message: "SOURCE_DATE_EPOCH=yesterday: must be a whole number of seconds since 1970 (at most 8589934591)",
  });
});

/** Entries of the destination's parent other than the destination: a staging directory left behind shows here. */
function leftovers(destination: string): string[] {
  return readdirSync(dirname(destination)).filter((n) => n !== basename(destination));
}

t.test("destinations: written whole or not at all", async (t) => {
  const parent = fresh("dest");
  mkdirSync(parent);
  // Not empty / not a directory / a directory where a file goes.
  const full = join(parent, "full");
  mkdirSync(full);
  writeFileSync(join(full, "x"), "x");
  await t.rejects(writeOciLayout(jq, full, jqOptions), new ImageError(full, "destination is not empty"));
  t.same(readdirSync(full), ["x"], "untouched");
  await t.rejects(writeOciLayout(jq, join(full, "x"), jqOptions), new ImageError(join(full, "x"), "destination exists and is not a directory"));
  await t.rejects(writeOciArchive(jq, full, jqOptions), new ImageError(full, "destination exists and is not a regular file"));
  await t.rejects(writeDockerArchive(jq, full, jqOptions), new ImageError(full, "destination exists and is not a regular file"));
  t.same(readdirSync(parent), ["full"], "nothing else written");

  // An empty directory is fine for a layout; missing parents are made.
  mkdirSync(join(parent, "empty"));
  await writeOciLayout(jq, join(parent, "empty"), jqOptions);
  t.same(readdirSync(join(parent, "empty")).sort(), ["blobs", "index.json", "oci-layout"]);
  await writeOciLayout(jq, join(parent, "new/deeper/layout"), jqOptions);
  t.ok(existsSync(join(parent, "new/deeper/layout/index.json")));

  // A file that vanished since planning: an error naming it, no destination, no staging directory;
  // an archive that was there before stays as it was.
  const host = fresh("vanishing");
  mkdirSync(host);
  const broken = jq.clone();
  broken.add(file("/usr/share/gone", join(host, "gone"), "9:9"));
  const layout = join(parent, "broken-layout");
  await t.rejects(writeOciLayout(broken, layout, jqOptions), new ImageError("/usr/share/gone", "changed while magicpak was running (No such file or directory)"));
  t.notOk(existsSync(layout), "no layout");
  t.same(leftovers(layout).sort(), ["empty", "full", "new"], "no staging directory left");
  const archive = join(parent, "image.tar");
  writeFileSync(archive, "previous");
  await t.rejects(writeOciArchive(broken, archive, jqOptions), { name: "ImageError" });
  await t.rejects(writeDockerArchive(broken, archive, jqOptions), { name: "ImageError" });
  t.equal(readFileSync(archive, "utf8"), "previous", "the earlier archive is intact");
  t.same(leftovers(archive).sort(), ["empty", "full", "new"], "no staging directory left");
  // Bad options fail before anything is written.
  await t.rejects(writeOciLayout(jq, join(parent, "bad"), { ...jqOptions, tag: "BAD" }), { name: "ImageError" });
  t.notOk(existsSync(join(parent, "bad")));
  // A successful write replaces the earlier archive.
  await writeDockerArchive(jq, archive, jqOptions);
  t.not(readFileSync(archive, "utf8").slice(0, 8), "previous");
  t.same(leftovers(archive).sort(), ["empty", "full", "new"]);
});
