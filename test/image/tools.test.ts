// The images against real container tools from Debian (provisioned by test/fixtures/provision.sh):
// skopeo inspects the OCI layout, the OCI archive and the Docker archive and copies them (checking
// every blob's digest); umoci unpacks the layout into a runtime bundle whose rootfs is exactly the
// tree emit writes; runc runs the program in it and it prints what the host's jq prints. Two runs
// give the same bytes; SOURCE_DATE_EPOCH sets the times. An arm64 bundle is an arm64 image.
//
// runc needs root. umoci's config.json asks for a terminal, which a test has not: "terminal" is set
// to false; nothing else is changed (its namespaces, mounts and cgroups work on this machine).

import t from "tap";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bundle, emitBundle, imageDefaults, writeDockerArchive, writeOciArchive, writeOciLayout, type ImageOptions, type ImageResult } from "../../lib/index.js";
import { fixture } from "../support/fixtures.js";
import { containerTools, describeTree, hashTree, run, scratchDir, sha256File } from "./support.js";

const tools = containerTools(t);
const dir = scratchDir(t, "image-tools");
let counter = 0;
const fresh = (name: string) => join(dir, `${name}-${++counter}`);

const { graph } = await bundle({ inputs: ["/usr/bin/jq"] });
const options: ImageOptions = {
  ...imageDefaults(graph, "/usr/bin/jq"),
  cmd: ["--version"],
  env: ["GREETING=hello from the image"],
  workdir: "/usr/lib",
  user: "65534:65534",
  labels: { "org.opencontainers.image.title": "jq", "made.by": "magicpak" },
  tag: "jq:test",
};
const emitted = fresh("emitted");
await emitBundle(graph, emitted);

const layout = fresh("oci");
const ociArchive = fresh("oci-archive.tar");
const dockerArchive = fresh("docker-archive.tar");
const written: Record<string, ImageResult> = {};
if (tools) {
  written["layout"] = await writeOciLayout(graph, layout, options);
  written["oci-archive"] = await writeOciArchive(graph, ociArchive, options);
  written["docker-archive"] = await writeDockerArchive(graph, dockerArchive, options);
}

function skopeo(...args: string[]): string {
  return run(tools!.skopeo, ["--policy", tools!.policy, ...args]);
}
function inspect(...args: string[]): Record<string, unknown> {
  return JSON.parse(skopeo("inspect", ...args)) as Record<string, unknown>;
}

const containers: string[] = [];
t.teardown(() => {
  for (const id of containers) spawnSync(tools!.runc, ["delete", "--force", id], { stdio: "ignore" });
});

/** umoci unpack of `image` (DIR:TAG) into a fresh bundle, its config.json without a terminal. */
/** The parts of umoci's runtime-spec config.json these tests read and change. */
interface RuntimeConfig {
  process: { terminal: boolean; args: string[]; cwd: string; user: { uid: number; gid: number }; env: string[] };
  [key: string]: unknown;
}

function unpack(image: string): { bundle: string; config: RuntimeConfig } {
  const target = fresh("bundle");
  run(tools!.umoci, ["unpack", "--image", image, target]);
  const configPath = join(target, "config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8")) as RuntimeConfig;
  config["process"].terminal = false;
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return { bundle: target, config };
}

/** runc run in `bundleDir`, with the process's args replaced when given. */
function runc(bundleDir: string, args?: string[], input = ""): string {
  if (args) {
    const configPath = join(bundleDir, "config.json");
    const config = JSON.parse(readFileSync(configPath, "utf8")) as RuntimeConfig;
    config["process"].args = args;
    writeFileSync(configPath, JSON.stringify(config, null, 2));
  }
  const id = `magicpak-test-${process.pid}-${++counter}`;
  containers.push(id);
  return run(tools!.runc, ["run", "--bundle", bundleDir, id], { input });
}

const hostJq = (args: string[], input = "", cwd?: string) => run("/usr/bin/jq", args, { input, cwd });

t.test("skopeo inspect accepts the OCI layout, the OCI archive and the Docker archive", async (t) => {
  if (!tools) return;
  const manifest = written["layout"]!;
  for (const [name, ref, result] of [
    ["layout", `oci:${layout}`, written["layout"]!],
    ["layout by its ref.name", `oci:${layout}:jq:test`, written["layout"]!],
    ["oci-archive", `oci-archive:${ociArchive}`, written["oci-archive"]!],
    ["docker-archive", `docker-archive:${dockerArchive}`, written["docker-archive"]!],
    ["docker-archive by its tag", `docker-archive:${dockerArchive}:jq:test`, written["docker-archive"]!],
  ] as const) {
    const info = inspect(ref);
    t.equal(info["Architecture"], "amd64", `${name}: architecture`);
    t.equal(info["Os"], "linux", `${name}: os`);
    t.equal(info["Created"], "1970-01-01T00:00:00Z", `${name}: created`);
    t.same(info["Labels"], options.labels, `${name}: labels`);
    t.same(info["Env"], ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello from the image"], `${name}: env`);
    if (name.startsWith("docker")) {
      t.same(info["Layers"], [result.layer.diffId], `${name}: the plain tar layer`);
      if (ref.endsWith(":jq:test")) t.equal(info["Name"], "docker.io/library/jq", `${name}: found by its RepoTag`);
    } else {
      t.equal(info["Digest"], manifest.digest, `${name}: the manifest digest writeOciLayout returned`);
      t.same(info["Layers"], [manifest.layer.digest], `${name}: the gzipped layer`);
      t.equal(skopeo("inspect", "--raw", ref), readFileSync(join(layout, "blobs/sha256", manifest.digest.slice(7)), "utf8"), `${name}: the raw manifest`);
    }
    const config = inspect("--config", ref);
    t.equal(config["architecture"], "amd64");
    t.same(
      config["config"],
      {
        User: "65534:65534",
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello from the image"],
        Entrypoint: ["/usr/bin/jq"],
        Cmd: ["--version"],
        WorkingDir: "/usr/lib",
        Labels: { "made.by": "magicpak", "org.opencontainers.image.title": "jq" },
      },
      `${name}: the run config`,
    );
    t.same(config["rootfs"], { type: "layers", diff_ids: [result.layer.diffId] }, `${name}: rootfs.diff_ids`);
    t.match(config["history"], [{ created: "1970-01-01T00:00:00Z", created_by: /^magicpak / }], `${name}: history`);
  }
  t.equal(written["docker-archive"]!.digest, written["layout"]!.config.digest, "the Docker image ID is the config digest");
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
  t.same(index.manifests[0].annotations, { "org.opencontainers.image.ref.name": "jq:test" });
  t.same(index.manifests[0].platform, { architecture: "amd64", os: "linux" });
  const dockerManifest = JSON.parse(run("tar", ["-xOf", dockerArchive, "manifest.json"]));
  t.same(dockerManifest[0].RepoTags, ["jq:test"]);
  t.same(JSON.parse(run("tar", ["-xOf", dockerArchive, "repositories"])), { jq: { test: written["docker-archive"]!.layer.diffId.slice(7) } });
});

t.test("skopeo copy reads every blob and keeps the image", async (t) => {
  if (!tools) return;
  const other = fresh("copy");
  skopeo("copy", `oci:${layout}`, `oci:${other}:copied`);
  const index = JSON.parse(readFileSync(join(other, "index.json"), "utf8"));
  t.equal(index.manifests[0].digest, written["layout"]!.digest, "oci -> oci: the same manifest digest");
  const fromArchive = fresh("copy-archive");
  skopeo("copy", `oci-archive:${ociArchive}`, `oci:${fromArchive}`);
  t.equal(inspect(`oci:${fromArchive}`)["Digest"], written["layout"]!.digest, "oci-archive -> oci: the same manifest digest");
  const fromDocker = fresh("copy-docker");
  skopeo("copy", `docker-archive:${dockerArchive}`, `oci:${fromDocker}:jq`);
  const copied = JSON.parse(skopeo("inspect", "--raw", `oci:${fromDocker}`));
  t.equal(copied.config.digest, written["docker-archive"]!.config.digest, "docker-archive -> oci: the same config");
  const back = fresh("round-trip.tar");
  skopeo("copy", `oci:${layout}`, `docker-archive:${back}:jq:again`);
  t.same(inspect("--config", `docker-archive:${back}`)["config"], inspect("--config", `docker-archive:${dockerArchive}`)["config"], "oci -> docker-archive: the same run config");
});

t.test("umoci unpacks the layout; its rootfs is the bundle emit writes; runc runs jq in it", async (t) => {
  if (!tools) return;
  const { bundle: unpacked, config } = unpack(`${layout}:jq:test`);
  t.same(describeTree(join(unpacked, "rootfs")), describeTree(emitted), "same files, modes, contents, link targets and hard links");
  t.same(config["process"].args, ["/usr/bin/jq", "--version"], "Entrypoint + Cmd");
  t.same(config["process"].cwd, "/usr/lib", "WorkingDir");
  t.same(config["process"].user, { uid: 65534, gid: 65534 }, "User");
  t.ok((config["process"].env as string[]).includes("GREETING=hello from the image"), "Env");

  t.equal(runc(unpacked), hostJq(["--version"]), "jq --version, as the image's Entrypoint and Cmd");
  const input = '{"a":[1,2,3],"b":{"c":"x"}}';
  t.equal(runc(unpacked, ["/usr/bin/jq", "-c", "{sum: (.a|add), keys: keys, c: .b.c}"], input), hostJq(["-c", "{sum: (.a|add), keys: keys, c: .b.c}"], input), "a filter over stdin");
  t.equal(runc(unpacked, ["/usr/bin/jq", "-n", "-r", "$ENV.GREETING"]), "hello from the image\n", "the image's Env");
  const relative = ["-n", "--rawfile", "f", "x86_64-linux-gnu/libjq.so.1", "$f|length"];
  t.equal(runc(unpacked, ["/usr/bin/jq", ...relative]), hostJq(relative, "", "/usr/lib"), "relative paths from WorkingDir");
});

t.test("the Docker archive runs too (copied to a layout as podman load would read it)", async (t) => {
  if (!tools) return;
  const fromDocker = fresh("docker-layout");
  skopeo("copy", `docker-archive:${dockerArchive}`, `oci:${fromDocker}:jq`);
  const { bundle: unpacked } = unpack(`${fromDocker}:jq`);
  t.same(describeTree(join(unpacked, "rootfs")), describeTree(emitted));
  t.equal(runc(unpacked), hostJq(["--version"]));
});

t.test("reproducible: the same bytes twice; SOURCE_DATE_EPOCH sets every time", async (t) => {
  if (!tools) return;
  const again = await writeOciLayout(graph, fresh("oci-again"), options);
  t.equal(again.digest, written["layout"]!.digest, "the same manifest digest");
  t.same(hashTree(again.path), hashTree(layout), "the same layout, byte for byte");
  const archive = await writeOciArchive(graph, fresh("oci-archive-again.tar"), options);
  t.equal(sha256File(archive.path), sha256File(ociArchive), "the same OCI archive");
  const docker = await writeDockerArchive(graph, fresh("docker-archive-again.tar"), options);
  t.equal(sha256File(docker.path), sha256File(dockerArchive), "the same Docker archive");

  const saved = process.env["SOURCE_DATE_EPOCH"];
  process.env["SOURCE_DATE_EPOCH"] = "1700000000";
  let dated: ImageResult;
  try {
    dated = await writeOciLayout(graph, fresh("oci-dated"), options);
  } finally {
    if (saved === undefined) delete process.env["SOURCE_DATE_EPOCH"];
    else process.env["SOURCE_DATE_EPOCH"] = saved;
  }
  t.not(dated.digest, written["layout"]!.digest, "another digest");
  t.equal(inspect(`oci:${dated.path}`)["Created"], "2023-11-14T22:13:20Z");
  const mtimes = run("/usr/bin/python3", ["-c", "import sys, tarfile; print(sorted({m.mtime for m in tarfile.open(sys.argv[1])}))", join(dated.path, "blobs/sha256", dated.layer.digest.slice(7))]);
  t.equal(mtimes.trim(), "[1700000000]", "every entry's mtime");
  t.equal((await writeOciLayout(graph, fresh("oci-explicit"), { ...options, created: 1_700_000_000 })).digest, dated.digest, "the created option is the same thing");
});

t.test("an arm64 bundle is an arm64 image", async (t) => {
  if (!tools) return;
  const { graph: arm } = await bundle({ inputs: ["/usr/bin/bash"], root: fixture("MAGICPAK_ARM64_ROOT") });
  const armOptions = { ...imageDefaults(arm, "/usr/bin/bash"), tag: "bash:arm64" };
  const armLayout = await writeOciLayout(arm, fresh("arm-oci"), armOptions);
  const armArchive = await writeOciArchive(arm, fresh("arm-oci.tar"), armOptions);
  const armDocker = await writeDockerArchive(arm, fresh("arm-docker.tar"), armOptions);
  for (const ref of [`oci:${armLayout.path}`, `oci-archive:${armArchive.path}`, `docker-archive:${armDocker.path}`]) {
    const info = inspect(ref);
    t.equal(info["Architecture"], "arm64", `${ref.split(":")[0]}: arm64`);
    t.equal(info["Os"], "linux");
    const config = inspect("--config", ref);
    t.equal(config["variant"], "v8", "variant v8");
    t.same((config["config"] as Record<string, unknown>)["Entrypoint"], ["/usr/bin/bash"]);
  }
  const index = JSON.parse(readFileSync(join(armLayout.path, "index.json"), "utf8"));
  t.same(index.manifests[0].platform, { architecture: "arm64", os: "linux", variant: "v8" });
  // skopeo picks the image for a platform from the layout like a registry client would.
  const copied = fresh("arm-copy");
  skopeo("--override-arch", "arm64", "copy", `oci:${armLayout.path}`, `oci:${copied}`);
  t.equal(inspect(`oci:${copied}`)["Digest"], armLayout.digest);
  const { bundle: unpacked } = unpack(`${armLayout.path}:bash:arm64`);
  const reference = fresh("arm-emitted");
  await emitBundle(arm, reference);
  t.same(describeTree(join(unpacked, "rootfs")), describeTree(reference), "umoci unpacks it to the bundle");
  // The host cannot run arm64 code natively: put the static qemu-user into the unpacked rootfs (not
  // the image) and let runc start bash through it.
  mkdirSync(join(unpacked, "rootfs/.qemu"));
  copyFileSync(fixture("MAGICPAK_QEMU_AARCH64"), join(unpacked, "rootfs/.qemu/qemu-aarch64-static"));
  const script = "echo $((6 * 7)) ${BASH_VERSINFO[0]} $(uname -m 2>/dev/null || echo no-uname)";
  t.equal(runc(unpacked, ["/.qemu/qemu-aarch64-static", "/usr/bin/bash", "-c", script]), "42 5 no-uname\n", "bash from the arm64 image runs under qemu");
});
