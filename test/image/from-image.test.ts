// --from-image against real images made on this machine: a Debian bookworm minbase tree made by
// mmdebstrap (with jq, python3-minimal and nginx-light; cached in $MAGICPAK_CACHE/from-image) with a
// second layer (an app directory, whiteouts), an arm64 image of MAGICPAK_ARM64_ROOT, and an index
// of both. The slimmed images are inspected by skopeo, unpacked by umoci and run by runc with the
// same output as the original image run the same way; the arm64 one is tested through qemu (the
// foreign jail of --test). Two runs give the same bytes.

import t from "tap";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { PassThrough } from "node:stream";
import { main } from "../../bin/cli.js";
import { bundleFromImage } from "../../lib/bundle/from-image.js";
import { extractImage, openImageSource } from "../../lib/image/source.js";
import { fixture } from "../support/fixtures.js";
import { containerTools, run, scratchDir, sha256File } from "./support.js";
import { tarOf, treeEntries, writeTestLayout, type RawEntry } from "./source-support.js";

const tools = containerTools(t);
const dir = scratchDir(t, "from-image");
let counter = 0;
const fresh = (name: string) => join(dir, `${name}-${++counter}`);
const cache = join(fixture("MAGICPAK_CACHE"), "from-image");
const STAMP = "mmdebstrap --variant=minbase --include=jq,python3-minimal,nginx-light bookworm SOURCE_DATE_EPOCH=1700000000";
const debTree = join(cache, "bookworm-minbase-jq-python3-nginx");
const busybox = fixture("MAGICPAK_BUSYBOX");

/** The mmdebstrap tree, made once (apt-get install mmdebstrap; Debian's mirror). */
function ensureDebianTree(): boolean {
  const stamp = join(cache, "bookworm-minbase-jq-python3-nginx.stamp");
  if (existsSync(debTree) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === STAMP) return true;
  mkdirSync(cache, { recursive: true });
  const partial = `${debTree}.partial`;
  rmSync(partial, { recursive: true, force: true });
  const r = spawnSync("mmdebstrap", ["--variant=minbase", "--format=directory", "--include=jq,python3-minimal,nginx-light", "bookworm", partial, "http://deb.debian.org/debian"], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000" },
  });
  if (r.status !== 0) {
    t.fail(`mmdebstrap failed (apt-get install mmdebstrap): ${r.stderr?.toString().trim().split("\n").pop()}`);
    return false;
  }
  rmSync(debTree, { recursive: true, force: true });
  renameSync(partial, debTree);
  writeFileSync(stamp, `${STAMP}\n`);
  return true;
}

const SCRIPT = 'import base64, datetime, sys\nprint(base64.b64encode(b"magicpak").decode(), datetime.date(2024, 2, 29).isoformat(), sys.argv[1:])\n';
const NGINX_CONF =
  "daemon off;\nmaster_process off;\nworker_processes 1;\npid /tmp/nginx.pid;\nerror_log stderr;\nevents { worker_connections 16; }\nhttp {\n  access_log off;\n  include /etc/nginx/mime.types;\n  server { listen 127.0.0.1:18080; root /app/www; }\n}\n";
const PAGE = "<p>served by nginx from the image</p>\n";
const appLayer: RawEntry[] = [
  { header: { name: "app/", type: "directory", mode: 0o755 } },
  { header: { name: "app/nginx.conf", type: "file", mode: 0o644, size: NGINX_CONF.length }, content: Buffer.from(NGINX_CONF) },
  { header: { name: "app/www/", type: "directory", mode: 0o755 } },
  { header: { name: "app/www/index.html", type: "file", mode: 0o644, size: PAGE.length }, content: Buffer.from(PAGE) },
  { header: { name: "app/hello.py", type: "file", mode: 0o644, size: SCRIPT.length }, content: Buffer.from(SCRIPT) },
  // Whiteouts: jq's docs deleted, /usr/share/man made opaque (emptied) with one new page.
  { header: { name: "usr/share/doc/.wh.jq", type: "file", mode: 0o644, size: 0 } },
  { header: { name: "usr/share/man/.wh..wh..opq", type: "file", mode: 0o644, size: 0 } },
  { header: { name: "usr/share/man/NEW", type: "file", mode: 0o644, size: 4 }, content: Buffer.from("new\n") },
];
const debConfig = {
  Entrypoint: ["jq"],
  Cmd: ["-n", "[1,2,3] | add"],
  Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
  WorkingDir: "/app",
  User: "65534:65534",
  ExposedPorts: { "8080/tcp": {} },
  Volumes: { "/data": {} },
  Labels: { "org.example.made": "on this machine" },
  StopSignal: "SIGQUIT",
};
const bashConfig = { Entrypoint: ["/bin/bash", "-c"], Cmd: ["echo hello from bash"], Env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] };

const ok = tools !== null && ensureDebianTree();
let debLayout = "";
let multiLayout = "";
if (ok) {
  // The layouts are cached beside the tree (tens of seconds to write).
  debLayout = join(cache, "oci-deb-v3");
  multiLayout = join(cache, "oci-multi-v3");
  if (!existsSync(join(debLayout, "index.json")) || !existsSync(join(multiLayout, "index.json"))) {
    const base = await tarOf(treeEntries(debTree));
    const app = await tarOf(appLayer);
    const arm = await tarOf(treeEntries(fixture("MAGICPAK_ARM64_ROOT")));
    for (const d of [debLayout, multiLayout]) rmSync(d, { recursive: true, force: true });
    writeTestLayout(debLayout, [{ platform: { architecture: "amd64", os: "linux" }, layers: [base, app], config: debConfig }], "deb");
    writeTestLayout(
      multiLayout,
      [
        { platform: { architecture: "amd64", os: "linux" }, layers: [base], config: bashConfig },
        { platform: { architecture: "arm64", os: "linux", variant: "v8" }, layers: [arm], config: bashConfig },
      ],
      "multi",
    );
  }
}

function skopeo(...args: string[]): string {
  return run(tools!.skopeo, ["--policy", tools!.policy, ...args]);
}
/** What skopeo inspect prints: with --config the image config, else a summary with the Architecture. */
interface Inspected {
  config: Record<string, unknown>;
  Architecture: string;
  [key: string]: unknown;
}
function inspect(...args: string[]): Inspected {
  return JSON.parse(skopeo("inspect", ...args)) as Inspected;
}

/** The parts of umoci's runtime-spec config.json these tests change. */
interface RuntimeConfig {
  process: { terminal: boolean; args: string[]; user: { uid: number; gid: number }; capabilities: Record<"bounding" | "effective" | "permitted", string[]> };
  linux: { namespaces: { type: string }[] };
  [key: string]: unknown;
}

const containers: string[] = [];
t.teardown(() => {
  for (const id of containers) spawnSync(tools!.runc, ["delete", "--force", id], { stdio: "ignore" });
});

/** umoci unpack + runc run (args replaced when given), as test/image/tools.test.ts. */
function runImage(image: string, args?: string[]): string {
  const target = fresh("bundle");
  run(tools!.umoci, ["unpack", "--image", image, target]);
  const configPath = join(target, "config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8")) as RuntimeConfig;
  config["process"].terminal = false;
  if (args) config["process"].args = args;
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const id = `magicpak-fromimage-${process.pid}-${++counter}`;
  containers.push(id);
  try {
    return run(tools!.runc, ["run", "--bundle", target, id]);
  } finally {
    rmSync(target, { recursive: true, force: true });
  }
}

async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  const err = new PassThrough();
  let stderr = "";
  err.on("data", (c) => (stderr += c));
  const code = await main(args, new PassThrough() as never, err as never);
  return { code, stderr };
}

t.test("the layers are applied in order, with whiteouts", async (t) => {
  if (!ok) return;
  const source = await openImageSource(`${debLayout}:deb`);
  t.equal(source.images.length, 1);
  const root = await extractImage(source.images[0]!);
  try {
    t.ok(existsSync(join(root.root, "usr/bin/jq")), "the base layer");
    t.ok(existsSync(join(root.root, "app/hello.py")), "the second layer");
    t.notOk(existsSync(join(root.root, "usr/share/doc/jq")), ".wh.jq removed jq's docs");
    t.ok(existsSync(join(root.root, "usr/share/doc/python3-minimal")), "the other docs stay");
    t.same(
      run("ls", [join(root.root, "usr/share/man")])
        .trim()
        .split("\n"),
      ["NEW"],
      "the opaque whiteout emptied /usr/share/man but for this layer's file",
    );
    t.notOk(existsSync(join(root.root, "dev/null")), "device nodes are skipped");
  } finally {
    root.remove();
    source.close();
  }
  t.notOk(existsSync(root.root), "removed");
});

let jqDigest = "";
t.test("jq: the image's Entrypoint is the input, its config carries over, runc gives the same output", async (t) => {
  if (!ok) return;
  const out = fresh("jq-out");
  const oci = fresh("jq-oci");
  const ociArchive = fresh("jq-oci.tar");
  const dockerArchive = fresh("jq-docker.tar");
  const r = await cli([
    "--from-image",
    `${debLayout}:deb`,
    out,
    "--tag",
    "slim",
    "--oci",
    oci,
    "--oci-archive",
    ociArchive,
    "--docker-archive",
    dockerArchive,
    "--test",
    "--test-command",
    "jq -n 1+1",
    "--test-stdout",
    "2",
    "--busybox",
    busybox,
  ]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /^linux\/amd64 \/usr\/bin\/jq: input \d+\.\d MB -> output \d+\.\d MB \(\d+\.\d%\)\n$/, `the size line: ${r.stderr.trim()}`);
  t.ok(existsSync(join(out, "usr/bin/jq")), "the bundle directory");
  for (const ref of [`oci:${oci}`, `oci-archive:${ociArchive}`, `docker-archive:${dockerArchive}`]) {
    const config = inspect("--config", ref)["config"];
    t.same(
      config,
      {
        User: "65534:65534",
        ExposedPorts: { "8080/tcp": {} },
        Env: debConfig.Env,
        Entrypoint: ["jq"],
        Cmd: ["-n", "[1,2,3] | add"],
        Volumes: { "/data": {} },
        WorkingDir: "/app",
        Labels: debConfig.Labels,
        StopSignal: "SIGQUIT",
      },
      `${ref}: the config carried over`,
    );
  }
  const original = runImage(`${debLayout}:deb`);
  const slim = runImage(`${oci}:slim`);
  t.equal(original.trim(), "6", "the original image");
  t.equal(slim, original, "the slimmed image prints the same");
  const stdin = runImage(`${oci}:slim`, ["jq", "-n", "--arg", "x", "é", "{x: $x, n: ([range(5)] | length)}"]);
  t.equal(stdin, runImage(`${debLayout}:deb`, ["jq", "-n", "--arg", "x", "é", "{x: $x, n: ([range(5)] | length)}"]), "another program line: the same");
  // The outputs read back as sources: an OCI archive and a Docker archive (docker save's layout).
  for (const source of [ociArchive, dockerArchive]) {
    const back = fresh("back");
    const r3 = await cli(["--from-image", source, fresh("back-out"), "--tag", "slim", "--oci", back]);
    t.equal(r3.code, 0, r3.stderr);
    t.equal(runImage(`${back}:slim`), original, `${source.endsWith("docker-archive.tar") ? "a Docker" : "an OCI"} archive as the source`);
  }
  jqDigest = sha256File(ociArchive);
  const again = fresh("jq-again.tar");
  const r2 = await cli(["--from-image", `${debLayout}:deb`, fresh("jq-out"), "--tag", "slim", "--oci-archive", again]);
  t.equal(r2.code, 0, r2.stderr);
  t.equal(sha256File(again), jqDigest, "byte-reproducible: two runs, the same archive");
});

t.test("SIGTERM while the layers are extracted: the temporary root is removed", async (t) => {
  if (!ok) return;
  const before = run("ls", [tmpdir()])
    .split("\n")
    .filter((n) => n.startsWith("magicpak-image-root-"));
  const child = spawn(process.execPath, [fileURLToPath(new URL("../../../bin/magicpak.js", import.meta.url)), "--from-image", `${debLayout}:deb`, fresh("killed"), "-v"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  await new Promise<void>((resolve) =>
    child.stderr!.on("data", (c) => {
      stderr += c;
      if (stderr.includes("extract ")) resolve();
    }),
  );
  await new Promise((r) => setTimeout(r, 300));
  const during = run("ls", [tmpdir()])
    .split("\n")
    .filter((n) => n.startsWith("magicpak-image-root-"));
  child.kill("SIGTERM");
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  t.equal(code, 143, "exit 143");
  t.ok(during.length > before.length, "a root was being extracted");
  t.same(
    run("ls", [tmpdir()])
      .split("\n")
      .filter((n) => n.startsWith("magicpak-image-root-")),
    before,
    "and is gone",
  );
});

/** nginx -c /app/nginx.conf in runc, as root (with the capabilities it uses) in the host's network namespace; the page it serves on 127.0.0.1:18080. */
async function serveWithNginx(image: string): Promise<string> {
  const target = fresh("nginx-bundle");
  run(tools!.umoci, ["unpack", "--image", image, target]);
  const configPath = join(target, "config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8")) as RuntimeConfig;
  config["process"].terminal = false;
  config["process"].args = ["/usr/sbin/nginx", "-c", "/app/nginx.conf"];
  config["process"].user = { uid: 0, gid: 0 };
  // nginx chowns its temporary directories to its worker's user and switches to it.
  for (const set of ["bounding", "effective", "permitted"] as const) config["process"].capabilities[set].push("CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE");
  config["linux"].namespaces = config["linux"].namespaces.filter((n) => n.type !== "network");
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const id = `magicpak-nginx-${process.pid}-${++counter}`;
  containers.push(id);
  const child = spawn(tools!.runc, ["run", "--bundle", target, id], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (c) => (stderr += c));
  try {
    for (let i = 0; i < 100; i++) {
      try {
        const response = await fetch("http://127.0.0.1:18080/");
        return `${response.status} ${await response.text()}`;
      } catch {
        if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`nginx did not answer: ${stderr}`);
  } finally {
    spawnSync(tools!.runc, ["kill", id, "KILL"], { stdio: "ignore" });
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.on("exit", r)));
    spawnSync(tools!.runc, ["delete", "--force", id], { stdio: "ignore" });
    rmSync(target, { recursive: true, force: true });
  }
}

t.test("nginx serves a file on loopback from the slimmed image as from the original", async (t) => {
  if (!ok) return;
  const oci = fresh("nginx-oci");
  // Its closure does not name its configuration or the directories it writes: named here.
  const r = await cli([
    "--from-image",
    `${debLayout}:deb`,
    "/usr/sbin/nginx",
    fresh("nginx-out"),
    "--include",
    "/app",
    "--include",
    "/etc/nginx/mime.types",
    "--mkdir",
    "/var/lib/nginx",
    "--mkdir",
    "/var/log/nginx",
    "--mkdir",
    "/tmp",
    "--passwd",
    "--tag",
    "nginx",
    "--oci",
    oci,
    "--test",
    "--test-command",
    "nginx -v",
    "--busybox",
    busybox,
  ]);
  t.equal(r.code, 0, r.stderr);
  const original = await serveWithNginx(`${debLayout}:deb`);
  t.equal(original, `200 ${PAGE}`, "the original image serves the page");
  t.equal(await serveWithNginx(`${oci}:nginx`), original, "the slimmed image serves the same");
});

t.test("python3 with its stdlib and a script from the second layer", async (t) => {
  if (!ok) return;
  const oci = fresh("py-oci");
  const r = await cli([
    "--from-image",
    `${debLayout}:deb`,
    "/usr/bin/python3",
    fresh("py-out"),
    "--include",
    "/usr/lib/python3.11",
    "--include",
    "/app",
    "--exclude",
    "**/__pycache__",
    "--tag",
    "py",
    "--oci",
    oci,
    "--test",
    "--test-command",
    "python3 /app/hello.py x",
    "--busybox",
    busybox,
  ]);
  t.equal(r.code, 0, r.stderr);
  const args = ["python3", "/app/hello.py", "a", "b"];
  const original = runImage(`${debLayout}:deb`, args);
  t.equal(original.trim(), "bWFnaWNwYWs= 2024-02-29 ['a', 'b']");
  t.equal(runImage(`${oci}:py`, args), original, "the same output");
  t.same(inspect("--config", `oci:${oci}`)["config"]["Entrypoint"], ["/usr/bin/python3"], "another input than the config's program is the entrypoint");
});

t.test("a two-platform index: each platform in its own root, the arm64 one tested through qemu", async (t) => {
  if (!ok) return;
  const oci = fresh("multi-oci");
  const ociArchive = fresh("multi-oci.tar");
  const result = await bundleFromImage({
    source: `${multiLayout}:multi`,
    output: fresh("multi-out"),
    images: { ociLayout: oci, ociArchive },
    test: { command: "bash -c 'echo hi'", stdout: "hi" },
    testTools: {
      "linux/amd64": { busybox },
      "linux/arm64": { busybox: fixture("MAGICPAK_BUSYBOX_ARM64"), emulator: fixture("MAGICPAK_QEMU_AARCH64") },
    },
  });
  t.same(
    result.platforms.map((p) => [p.platform, p.input]),
    [
      ["linux/amd64", "/bin/bash"],
      ["linux/arm64/v8", "/bin/bash"],
    ],
  );
  const top = JSON.parse(readFileSync(join(oci, "index.json"), "utf8"));
  t.equal(top.manifests.length, 1, "index.json names one image index");
  t.equal(top.manifests[0].digest, result.images[0]!.digest);
  const index = JSON.parse(readFileSync(join(oci, "blobs/sha256", top.manifests[0].digest.slice(7)), "utf8"));
  t.same(
    index.manifests.map((m: { platform: unknown }) => m.platform),
    [
      { architecture: "amd64", os: "linux" },
      { architecture: "arm64", os: "linux", variant: "v8" },
    ],
  );
  const raw = JSON.parse(skopeo("inspect", "--raw", `oci:${oci}`));
  t.equal(raw.manifests.length, 2, "skopeo reads the index");
  t.equal(inspect("--override-arch", "arm64", `oci-archive:${ociArchive}`)["Architecture"], "arm64", "skopeo picks arm64 from the archive");
  t.equal(inspect("--override-arch", "amd64", `oci:${oci}`)["Architecture"], "amd64");
  // umoci takes one manifest: a layout of the amd64 one alone, copied by skopeo.
  const amd64 = fresh("multi-amd64");
  skopeo("--override-arch", "amd64", "copy", `oci:${oci}`, `oci:${amd64}:bash`);
  const original = fresh("orig-amd64");
  skopeo("--override-arch", "amd64", "copy", `oci:${multiLayout}:multi`, `oci:${original}:bash`);
  t.equal(runImage(`${amd64}:bash`), runImage(`${original}:bash`), "amd64: the same output as the original");
  t.equal(runImage(`${amd64}:bash`).trim(), "hello from bash");
  const again = fresh("multi-again.tar");
  await bundleFromImage({ source: `${multiLayout}:multi`, images: { ociArchive: again } });
  t.equal(sha256File(again), sha256File(ociArchive), "byte-reproducible");
});

t.test("--platform picks one entry; a Docker archive of several is refused", async (t) => {
  if (!ok) return;
  const dockerArchive = fresh("arm.tar");
  const r = await cli([
    "--from-image",
    `${multiLayout}:multi`,
    "--platform",
    "linux/arm64",
    fresh("arm-out"),
    "--docker-archive",
    dockerArchive,
    "--test",
    "--test-command",
    "bash -c 'echo hi'",
    "--busybox",
    fixture("MAGICPAK_BUSYBOX_ARM64"),
    "--emulator",
    fixture("MAGICPAK_QEMU_AARCH64"),
  ]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /^linux\/arm64\/v8 \/bin\/bash: input/);
  t.equal(inspect(`docker-archive:${dockerArchive}`)["Architecture"], "arm64");
  const refused = await cli(["--from-image", `${multiLayout}:multi`, fresh("x"), "--docker-archive", fresh("both.tar")]);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /a Docker archive holds one platform, not 2/);
});

t.test("--root OS/ARCH=DIR, once per platform: one multi-platform image from several roots", async (t) => {
  if (!ok) return;
  const oci = fresh("roots-oci");
  const r = await cli(["--root", `linux/amd64=${debTree}`, "--root", `linux/arm64=${fixture("MAGICPAK_ARM64_ROOT")}`, "/bin/bash", fresh("roots-out"), "--oci", oci]);
  t.equal(r.code, 0, r.stderr);
  const index = JSON.parse(skopeo("inspect", "--raw", `oci:${oci}`));
  t.same(
    index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
    ["amd64", "arm64"],
  );
  t.equal(inspect("--override-arch", "arm64", `oci:${oci}`)["Architecture"], "arm64");
});
