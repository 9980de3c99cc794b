// Slimming images with --from-image: for each image made on this machine by
// test/image/from-image.test.ts (a Debian bookworm minbase tree by mmdebstrap with jq, python3 and
// nginx, and a two-platform index of bash from it and MAGICPAK_ARM64_ROOT; cached in
// $MAGICPAK_CACHE/from-image), the size of the input image as stored, the size of the slimmed OCI
// image as stored (gzipped layer and config), the time, and whether it works: under runc, the same
// output as the original image run the same way (amd64); through qemu in the foreign jail (arm64).
// Prints a Markdown section and writes it into bench/RESULTS.md (replacing its earlier copy).
//
//   npm run build && node dist/bench/from-image.js   (after `node test/run.js from-image`)

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleFromImage, type FromImageOptions } from "../lib/bundle/from-image.js";
import { fixture } from "../test/support/fixtures.js";

const cache = join(fixture("MAGICPAK_CACHE"), "from-image");
const deb = join(cache, "oci-deb-v3");
const multi = join(cache, "oci-multi-v3");
if (!existsSync(join(deb, "index.json")) || !existsSync(join(multi, "index.json"))) {
  process.stderr.write(`bench: the input images are missing from ${cache}: run \`node test/run.js from-image\` first\n`);
  process.exit(1);
}
const skopeo = fixture("MAGICPAK_SKOPEO");
const policy = fixture("MAGICPAK_SKOPEO_POLICY");
const umoci = fixture("MAGICPAK_UMOCI");
const runc = fixture("MAGICPAK_RUNC");
const busybox = fixture("MAGICPAK_BUSYBOX");
const work = mkdtempSync(join(tmpdir(), "magicpak-bench-from-image-"));
let n = 0;

function run(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${r.stderr.trim()}`);
  return r.stdout;
}

function runImage(image: string, args?: string[]): string {
  const target = join(work, `bundle-${++n}`);
  run(umoci, ["unpack", "--image", image, target]);
  const configPath = join(target, "config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8"));
  config.process.terminal = false;
  if (args) config.process.args = args;
  writeFileSync(configPath, JSON.stringify(config));
  const id = `magicpak-bench-${process.pid}-${n}`;
  try {
    return run(runc, ["run", "--bundle", target, id]);
  } finally {
    spawnSync(runc, ["delete", "--force", id], { stdio: "ignore" });
    rmSync(target, { recursive: true, force: true });
  }
}

interface Row {
  image: string;
  platform: string;
  inputMB: string;
  outputMB: string;
  seconds: string;
  works: string;
}
const rows: Row[] = [];
let lastOci = "";

/** nginx -c /app/nginx.conf under runc in the host's network namespace (as the test does); "STATUS BODY" of 127.0.0.1:18080. */
async function serve(image: string): Promise<string> {
  const target = join(work, `nginx-${++n}`);
  run(umoci, ["unpack", "--image", image, target]);
  const configPath = join(target, "config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8"));
  config.process.terminal = false;
  config.process.args = ["/usr/sbin/nginx", "-c", "/app/nginx.conf"];
  config.process.user = { uid: 0, gid: 0 };
  for (const set of ["bounding", "effective", "permitted"]) config.process.capabilities[set].push("CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE");
  config.linux.namespaces = config.linux.namespaces.filter((ns: { type: string }) => ns.type !== "network");
  writeFileSync(configPath, JSON.stringify(config));
  const id = `magicpak-bench-nginx-${process.pid}-${n}`;
  const child = spawn(runc, ["run", "--bundle", target, id], { stdio: "ignore" });
  try {
    for (let i = 0; i < 100; i++) {
      try {
        const response = await fetch("http://127.0.0.1:18080/");
        return `${response.status} ${await response.text()}`;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error("nginx did not answer");
  } finally {
    spawnSync(runc, ["kill", id, "KILL"], { stdio: "ignore" });
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.on("exit", r)));
    spawnSync(runc, ["delete", "--force", id], { stdio: "ignore" });
    rmSync(target, { recursive: true, force: true });
  }
}
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

async function measure(name: string, options: FromImageOptions, check: (oci: string, platform: string) => string): Promise<void> {
  const oci = join(work, `oci-${++n}`);
  lastOci = oci;
  const started = process.hrtime.bigint();
  const result = await bundleFromImage({ ...options, images: { ociLayout: oci, config: { tag: "slim" } } });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  for (const p of result.platforms) {
    let works: string;
    try {
      works = check(oci, p.platform);
    } catch (error) {
      works = `no: ${(error as Error).message.split("\n")[0]}`;
    }
    rows.push({ image: name, platform: p.platform, inputMB: mb(p.inputSize), outputMB: mb(p.outputSize), seconds: seconds.toFixed(1), works });
  }
}

const same = (original: string, slim: string) => (original === slim ? `yes (runc: ${JSON.stringify(slim.trim())}, as the original)` : `no: ${JSON.stringify(slim)} vs ${JSON.stringify(original)}`);

await measure("jq (Debian minbase + app layer; Entrypoint jq)", { source: `${deb}:deb`, test: { command: "jq -n 1+1", stdout: "2", busybox } }, (oci) =>
  same(runImage(`${deb}:deb`), runImage(`${oci}:slim`)),
);
const py = ["python3", "/app/hello.py", "bench"];
await measure(
  "python3 + stdlib + /app/hello.py",
  { source: `${deb}:deb`, inputs: ["/usr/bin/python3"], include: ["/usr/lib/python3.11", "/app"], exclude: ["**/__pycache__"], test: { command: "python3 /app/hello.py", busybox } },
  (oci) => same(runImage(`${deb}:deb`, py), runImage(`${oci}:slim`, py)),
);
await measure(
  "bash, two-platform index",
  {
    source: `${multi}:multi`,
    test: { command: "bash -c 'echo hi'", stdout: "hi" },
    testTools: { "linux/amd64": { busybox }, "linux/arm64": { busybox: fixture("MAGICPAK_BUSYBOX_ARM64"), emulator: fixture("MAGICPAK_QEMU_AARCH64") } },
  },
  (oci, platform) => {
    if (!platform.startsWith("linux/amd64")) return "yes (--test through qemu-aarch64 in the foreign jail)";
    const one = join(work, `one-${++n}`);
    const orig = join(work, `orig-${++n}`);
    run(skopeo, ["--policy", policy, "--override-arch", "amd64", "copy", `oci:${oci}:slim`, `oci:${one}:x`]);
    run(skopeo, ["--policy", policy, "--override-arch", "amd64", "copy", `oci:${multi}:multi`, `oci:${orig}:x`]);
    return same(runImage(`${orig}:x`), runImage(`${one}:x`));
  },
);
await measure(
  "nginx serving /app/www on loopback",
  {
    source: `${deb}:deb`,
    inputs: ["/usr/sbin/nginx"],
    include: ["/app", "/etc/nginx/mime.types"],
    mkdir: ["/var/lib/nginx", "/var/log/nginx", "/tmp"],
    extras: { passwd: true, nss: true },
    test: { command: "nginx -v", busybox },
  },
  () => "(see below)",
);
const nginxRow = rows[rows.length - 1]!;
try {
  const original = await serve(`${deb}:deb`);
  const slim = await serve(`${lastOci}:slim`);
  nginxRow.works = original === slim ? `yes (HTTP ${slim.split(" ")[0]}, the same page as the original)` : `no: ${JSON.stringify(slim)} vs ${JSON.stringify(original)}`;
} catch (error) {
  nginxRow.works = `no: ${(error as Error).message.split("\n")[0]}`;
}
rmSync(work, { recursive: true, force: true });

const header = "| image | platform | input MB | output MB | s | works |\n|:--|:--|--:|--:|--:|:--|";
const table = [header, ...rows.map((r) => `| ${r.image} | ${r.platform} | ${r.inputMB} | ${r.outputMB} | ${r.seconds} | ${r.works} |`)].join("\n");
const section = `## Slimming an image: --from-image

Measured by \`node dist/bench/from-image.js\` (bench/from-image.ts) on ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}, one run, on a shared 2-core machine (other jobs running). Input: the image as stored (its gzipped layers and config); output: the slimmed OCI image as stored (one gzipped layer and its config). The input images are made on this machine by test/image/from-image.test.ts: a Debian bookworm \`mmdebstrap --variant=minbase\` tree with jq, python3-minimal and nginx-light plus an app layer (a script, an nginx configuration and page, whiteouts), and an index of bash from it and from the arm64 test root. The time (s) is the whole bundleFromImage call: extracting the layers, analysis, \`--test\` in the jail (through qemu for arm64) and writing the image; for the index it is both platforms together.

${table}

Not compared with slim (slimtoolkit): it needs a container engine (it runs the image to watch it), and neither it nor an engine is available here. In words: slim observes a running container and keeps what it touched, so it also finds files no ELF header names (configuration, data) but depends on the probe exercising them; magicpak --from-image keeps the loader's closure of the program plus what --include/--dynamic name, without running the image (unless --dynamic or --test). nginx's closure does not name its configuration or the directories it writes: they are named with --include/--mkdir (see the README); it runs as root with the capabilities it uses, in the host's network namespace.
`;
process.stdout.write(`${section}\n`);
const results = fileURLToPath(new URL("../../bench/RESULTS.md", import.meta.url));
const old = readFileSync(results, "utf8");
const start = old.indexOf("## Slimming an image: --from-image");
const kept = start === -1 ? old.trimEnd() : old.slice(0, start).trimEnd();
writeFileSync(results, `${kept}\n\n${section}`);
process.stderr.write(`bench: wrote the --from-image section into ${results}\n`);
