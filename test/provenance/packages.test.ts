// Package provenance against the real tools. For real programs bundled from the host and from the
// arm64 root, the expected packages are what dpkg-query answers for the bundle's files (-S, on the
// host's database or the root's with --admindir; each merged-/usr spelling asked) and their
// versions (-W). Then: our database reader names the same owners; trivy (provisioned from npm)
// scanning OUTPUT finds exactly that (name, version) set, and none with --no-package-records;
// --sbom names the same set and validates against the SPDX 2.3 (CycloneDX 1.5) JSON schema; with
// --oci the SBOM is attached as an artifact whose subject is the image manifest.

import t, { type Test } from "tap";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import _Ajv from "ajv";
import _Ajv2019 from "ajv/dist/2019.js";
import _addFormats from "ajv-formats";
import { bundle } from "../../lib/bundle/bundle.js";
import { RootFs } from "../../lib/fs/root.js";
import { openPackageDatabase } from "../../lib/provenance/dpkg.js";
import { fixture } from "../support/fixtures.js";
import { magicpakCli } from "../support/scratch-jail.js";

const Ajv = _Ajv as unknown as typeof _Ajv.default;
const Ajv2019 = _Ajv2019 as unknown as typeof _Ajv2019.default;
const addFormats = _addFormats as unknown as typeof _addFormats.default;

const here = new URL(".", import.meta.url).pathname;
const fixtures = join(here, "../../../test/fixtures");
const work = mkdtempSync(join(tmpdir(), "magicpak-provenance-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => join(work, `${name}-${++counter}`);

function run(command: string, args: string[], allowFailure = false, env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(command, args, { encoding: "utf8", maxBuffer: 1 << 28, ...(env ? { env } : {}) });
  if (r.error) throw new Error(`${command}: ${r.error.message}`);
  if (r.status !== 0 && !allowFailure) throw new Error(`${command} ${args.slice(0, 6).join(" ")} ... exited with ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Every regular file below dir, as image paths. */
function regularFiles(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const path = `${rel}/${name}`;
    const st = lstatSync(join(dir, path));
    if (st.isDirectory()) out.push(...regularFiles(dir, path));
    else if (st.isFile()) out.push(path);
  }
  return out;
}

/** A path's spellings on a merged-/usr system: /usr/lib/x and /lib/x, /usr/bin/x and /bin/x. */
function spellings(path: string): string[] {
  const m = /^\/usr(\/(?:bin|sbin|lib|lib64)\/.*)$/.exec(path);
  if (m) return [path, m[1]!];
  return /^\/(bin|sbin|lib|lib64)\//.test(path) ? [path, `/usr${path}`] : [path];
}

/** dpkg-query's answer: the owner of each path (first package named), or absent. */
function dpkgOwners(admindir: string, paths: string[]): Map<string, string> {
  const out = run("dpkg-query", [`--admindir=${admindir}`, "-S", ...paths], true);
  const owners = new Map<string, string>();
  for (const line of out.split("\n")) {
    if (line === "" || line.startsWith("diversion by ")) continue;
    const m = /^(.+?): (\/.*)$/.exec(line);
    if (m) owners.set(m[2]!, m[1]!.split(", ")[0]!);
  }
  return owners;
}

/** The (name, version) set dpkg-query gives for the bundle's regular files (records excluded: magicpak wrote them). */
function expectedPackages(admindir: string, out: string): string[] {
  const files = regularFiles(out).filter((p) => !p.startsWith("/var/lib/dpkg/status.d/"));
  const owners = dpkgOwners(admindir, files.flatMap(spellings));
  const packages = new Set<string>();
  for (const file of files) {
    const owner = spellings(file)
      .map((s) => owners.get(s))
      .find((o) => o !== undefined);
    if (owner) packages.add(owner);
  }
  const versions = run("dpkg-query", [`--admindir=${admindir}`, "-W", "-f", "${Package} ${Version}\\n", ...packages]);
  return versions.trim().split("\n").sort();
}

/** trivy rootfs of `dir`, offline, its CycloneDX components as "name version" (the epoch put back). */
function trivyPackages(dir: string): { packages: string[]; purls: string[] } {
  const cache = fresh("trivy-cache");
  // trivy leaves analyzer-fs-* directories in its TMPDIR: give it one of the test's own.
  const tmp = fresh("trivy-tmp");
  mkdirSync(tmp, { recursive: true });
  const out = run(fixture("MAGICPAK_TRIVY"), ["rootfs", "--format", "cyclonedx", "--offline-scan", "--skip-db-update", "--skip-java-db-update", "--cache-dir", cache, "--quiet", dir], false, {
    ...process.env,
    TMPDIR: tmp,
  });
  const bom = JSON.parse(out) as { components?: { type: string; name: string; version: string; purl?: string }[] };
  const libraries = (bom.components ?? []).filter((c) => c.purl?.startsWith("pkg:deb/"));
  const packages = libraries.map((c) => {
    const epoch = /[?&]epoch=(\d+)/.exec(c.purl!)?.[1];
    return `${c.name} ${epoch ? `${epoch}:` : ""}${c.version}`;
  });
  return { packages: packages.sort(), purls: libraries.map((c) => c.purl!).sort() };
}

interface SpdxDocument {
  packages: { SPDXID: string; name: string; versionInfo: string; externalRefs: { referenceLocator: string }[]; licenseDeclared: string }[];
  files: { SPDXID: string; fileName: string; checksums: { algorithm: string; checksumValue: string }[] }[];
  relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
  documentNamespace: string;
  creationInfo: { created: string };
}

const spdxSchema = JSON.parse(readFileSync(join(fixtures, "spdx/spdx-schema-2.3.json"), "utf8")) as object;
function validateSpdx(t: Test, doc: unknown): void {
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  addFormats(ajv);
  const validate = ajv.compile(spdxSchema);
  t.ok(validate(doc), "valid against the SPDX 2.3 JSON schema", { errors: validate.errors?.slice(0, 5) });
}

function validateCycloneDx(t: Test, doc: unknown): void {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  for (const [file, id] of [
    ["spdx.SNAPSHOT.schema.json", "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json"],
    ["jsf-0.82.SNAPSHOT.schema.json", "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json"],
  ]) {
    const schema = JSON.parse(readFileSync(join(fixtures, "cyclonedx", file!), "utf8")) as Record<string, unknown>;
    ajv.addSchema({ ...schema, $id: id });
  }
  const validate = ajv.compile(JSON.parse(readFileSync(join(fixtures, "cyclonedx/bom-1.5.SNAPSHOT.schema.json"), "utf8")) as object);
  t.ok(validate(doc), "valid against the CycloneDX 1.5 JSON schema", { errors: validate.errors?.slice(0, 5) });
}

/** Checks the SBOM against the bundle: the same package set, every regular file with its SHA-256, each owned one CONTAINed. */
function checkSpdx(t: Test, doc: SpdxDocument, out: string, expected: string[], arch: string): void {
  validateSpdx(t, doc);
  t.same(doc.packages.map((p) => `${p.name} ${p.versionInfo}`).sort(), expected, "--sbom names the packages dpkg-query gives");
  for (const p of doc.packages) t.match(p.externalRefs[0]!.referenceLocator, new RegExp(`^pkg:deb/debian/${p.name.replace(/\+/g, "\\+")}@[^?]+\\?arch=(${arch}|all)$`), `${p.name}: purl`);
  const files = regularFiles(out);
  t.same(doc.files.map((f) => f.fileName.slice(1)).sort(), files, "every regular file of OUTPUT");
  const bad = doc.files.filter(
    (f) =>
      f.checksums.find((c) => c.algorithm === "SHA256")!.checksumValue !==
      createHash("sha256")
        .update(readFileSync(join(out, f.fileName)))
        .digest("hex"),
  );
  t.same(
    bad.map((f) => f.fileName),
    [],
    "each file's SHA-256 is that of the file in OUTPUT",
  );
  const contained = new Set(doc.relationships.filter((r) => r.relationshipType === "CONTAINS").map((r) => r.relatedSpdxElement));
  const described = new Set(doc.relationships.filter((r) => r.relationshipType === "DESCRIBES").map((r) => r.relatedSpdxElement));
  t.ok(
    doc.files.every((f) => contained.has(f.SPDXID) !== described.has(f.SPDXID)),
    "each file is contained by its package or, owned by none, described by the document",
  );
  t.ok(
    doc.packages.every((p) => described.has(p.SPDXID)),
    "the document describes every package",
  );
  t.equal(doc.creationInfo.created, "1970-01-01T00:00:00Z", "created: 0 without SOURCE_DATE_EPOCH");
}

function recordBytes(dir: string): number {
  return [...regularFiles(dir).filter((p) => p.startsWith("/var/lib/dpkg/status.d/")), "/etc/os-release", "/etc/debian_version"].reduce(
    (n, p) => n + (existsSync(join(dir, p)) ? lstatSync(join(dir, p)).size : 0),
    0,
  );
}

t.test("our dpkg reader names the owner dpkg-query -S names, on the host and in the arm64 root", async (t) => {
  for (const [root, admindir, program] of [
    ["/", "/var/lib/dpkg", "/usr/bin/jq"],
    [fixture("MAGICPAK_ARM64_ROOT"), join(fixture("MAGICPAK_ARM64_ROOT"), "var/lib/dpkg"), "/usr/bin/bash"],
  ] as const) {
    const { graph } = await bundle({ inputs: [program], root, packageRecords: false });
    const rootFs = new RootFs(root);
    const db = openPackageDatabase(rootFs)!;
    t.ok(db, `${root}: a dpkg database`);
    const files = graph.entries().flatMap((n) => (n.kind === "file" ? [n.source] : []));
    const owners = dpkgOwners(admindir, files.flatMap(spellings));
    const ours = files.map((f) => `${f} ${db.ownersOf(f)[0]?.name ?? "-"}`);
    const theirs = files.map(
      (f) =>
        `${f} ${
          spellings(f)
            .map((s) => owners.get(s))
            .find((o) => o !== undefined)
            ?.split(":")[0] ?? "-"
        }`,
    );
    t.same(ours, theirs, `${root} ${program}: ${files.length} files, owners as dpkg-query -S`);
  }
});

t.test("jq from the host: trivy and --sbom see exactly the packages dpkg-query names", async (t) => {
  if (!existsSync("/usr/bin/jq")) throw new Error("/usr/bin/jq is missing on this host: apt-get install jq");
  const out = fresh("jq");
  const sbom = `${out}.spdx.json`;
  const layout = fresh("jq-oci");
  const r = await magicpakCli(["/usr/bin/jq", out, "--sbom", sbom, "--oci", layout, "--tag", "jq:sbom"]);
  t.equal(r.status, 0, "magicpak /usr/bin/jq OUT --sbom FILE --oci DIR", { stderr: r.stderr });
  const expected = expectedPackages("/var/lib/dpkg", out);
  t.ok(
    expected.some((p) => p.startsWith("jq ")) && expected.some((p) => p.startsWith("libjq1 ")) && expected.some((p) => p.startsWith("libonig5 ")) && expected.some((p) => p.startsWith("libc6 ")),
    "jq, libjq1, libonig5, libc6 own its files",
    { expected },
  );
  const scanned = trivyPackages(out);
  t.same(scanned.packages, expected, `trivy finds exactly ${expected.length} packages`);
  t.ok(
    scanned.purls.every((p) => p.includes("arch=amd64") || p.includes("arch=all")),
    "amd64 packages",
  );
  t.comment(`jq: package records add ${recordBytes(out)} bytes; trivy: ${scanned.packages.join(", ")}`);
  const doc = JSON.parse(readFileSync(sbom, "utf8")) as SpdxDocument;
  checkSpdx(t, doc, out, expected, "amd64");
  t.comment(`declared licenses: ${doc.packages.map((p) => `${p.name}: ${p.licenseDeclared}`).join("; ")}`);
  // The SBOM attached to the image: a manifest of its own, subject the image manifest.
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as { manifests: { digest: string; artifactType?: string; size: number }[] };
  t.equal(index.manifests.length, 2, "index.json: the image and the SBOM");
  const [image, artifact] = index.manifests;
  t.equal(artifact!.artifactType, "application/spdx+json");
  const blob = (d: string) => readFileSync(join(layout, "blobs/sha256", d.replace("sha256:", "")));
  const manifest = JSON.parse(blob(artifact!.digest).toString()) as { artifactType: string; subject: { digest: string; size: number }; layers: { digest: string; mediaType: string }[] };
  t.same(manifest.subject, { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: image!.digest, size: image!.size }, "subject: the image manifest");
  t.equal(manifest.layers[0]!.mediaType, "application/spdx+json");
  t.same(blob(manifest.layers[0]!.digest), readFileSync(sbom), "the blob is the --sbom file");
  const skopeo = run(fixture("MAGICPAK_SKOPEO"), ["--policy", fixture("MAGICPAK_SKOPEO_POLICY"), "inspect", `oci:${layout}:jq:sbom`]);
  t.equal((JSON.parse(skopeo) as { Digest: string }).Digest, image!.digest, "skopeo still inspects the image by its tag");
});

t.test("--compress: the SBOM's checksums are those of the packed file the image holds", async (t) => {
  // It used to read the unpacked input again: /usr/bin/jq's SHA-256 matched no file of OUTPUT.
  const out = fresh("jq-upx");
  const sbom = `${out}.spdx.json`;
  const r = await magicpakCli(["/usr/bin/jq", out, "--compress", "--sbom", sbom]);
  t.equal(r.status, 0, "magicpak /usr/bin/jq OUT --compress --sbom FILE", { stderr: r.stderr });
  t.not(
    createHash("sha256")
      .update(readFileSync(join(out, "usr/bin/jq")))
      .digest("hex"),
    createHash("sha256").update(readFileSync("/usr/bin/jq")).digest("hex"),
    "OUTPUT holds the packed jq",
  );
  checkSpdx(t, JSON.parse(readFileSync(sbom, "utf8")) as SpdxDocument, out, expectedPackages("/var/lib/dpkg", out), "amd64");
});

t.test("--no-package-records: no records, and trivy finds nothing", async (t) => {
  const out = fresh("jq-plain");
  const r = await magicpakCli(["/usr/bin/jq", out, "--no-package-records"]);
  t.equal(r.status, 0, "magicpak --no-package-records", { stderr: r.stderr });
  t.notOk(existsSync(join(out, "var/lib/dpkg")), "no /var/lib/dpkg");
  t.notOk(existsSync(join(out, "etc/os-release")), "no /etc/os-release");
  t.same(trivyPackages(out).packages, [], "trivy: 0 packages");
});

t.test("bash from the arm64 root on x86_64: arm64 packages, as dpkg-query --admindir names them", async (t) => {
  const root = fixture("MAGICPAK_ARM64_ROOT");
  const out = fresh("bash-arm64");
  const sbom = `${out}.spdx.json`;
  const cdx = `${out}.cdx.json`;
  const r = await magicpakCli(["--root", root, "/usr/bin/bash", out, "--sbom", sbom]);
  t.equal(r.status, 0, "magicpak --root ARM64 /usr/bin/bash OUT --sbom FILE", { stderr: r.stderr });
  const expected = expectedPackages(join(root, "var/lib/dpkg"), out);
  t.ok(expected.some((p) => p.startsWith("bash ")) && expected.some((p) => p.startsWith("libc6 ")) && expected.some((p) => p.startsWith("libtinfo6 ")), "bash, libtinfo6, libc6", { expected });
  const scanned = trivyPackages(out);
  t.same(scanned.packages, expected, `trivy finds exactly ${expected.length} packages`);
  t.ok(
    scanned.purls.every((p) => p.includes("arch=arm64") || p.includes("arch=all")),
    "arm64 packages (from the root's records)",
    { purls: scanned.purls },
  );
  checkSpdx(t, JSON.parse(readFileSync(sbom, "utf8")) as SpdxDocument, out, expected, "arm64");
  // The same as CycloneDX.
  const r2 = await magicpakCli(["--root", root, "/usr/bin/bash", fresh("bash-arm64-cdx"), "--sbom", cdx, "--sbom-format", "cyclonedx"]);
  t.equal(r2.status, 0, "--sbom-format cyclonedx", { stderr: r2.stderr });
  const bom = JSON.parse(readFileSync(cdx, "utf8")) as { components: { type: string; name: string; version: string }[] };
  validateCycloneDx(t, bom);
  t.same(
    bom.components
      .filter((c) => c.type === "library")
      .map((c) => `${c.name} ${c.version}`)
      .sort(),
    expected,
    "CycloneDX names the same packages",
  );
});

t.test("deterministic, and the bytes the records add to python3", async (t) => {
  const a = fresh("a.json");
  const b = fresh("b.json");
  for (const file of [a, b]) t.equal((await magicpakCli(["/usr/bin/jq", fresh("o"), "--sbom", file])).status, 0);
  t.same(readFileSync(a), readFileSync(b), "two runs, the same SBOM bytes");
  const stdlib = run("/usr/bin/python3", ["-I", "-c", "import os; print(os.path.dirname(os.__file__))"]).trim();
  const plan = async (packageRecords: boolean) => (await bundle({ inputs: ["/usr/bin/python3"], include: [`${stdlib}/**`], exclude: [`${stdlib}/config-*`], packageRecords })).graph;
  const size = (g: Awaited<ReturnType<typeof plan>>) => g.entries().reduce((n, e) => n + (e.kind === "file" ? e.size : e.kind === "generated" ? e.content.length : 0), 0);
  const [withRecords, without] = [await plan(true), await plan(false)];
  const records = withRecords.entries().filter((e) => e.path.startsWith("/var/lib/dpkg/status.d/")).length;
  t.ok(records > 0, "python3 gets records");
  t.comment(`python3 (with ${stdlib}): package records add ${size(withRecords) - size(without)} bytes (${records} files) to ${size(without)}`);
});

t.test("DEP-5 License fields as SPDX expressions", async (t) => {
  const { licenseExpression } = await import("../../lib/provenance/sbom.js");
  t.equal(licenseExpression("GPL-2+"), "GPL-2.0-or-later");
  t.equal(licenseExpression("GPL-2.0+"), "GPL-2.0-or-later");
  t.equal(licenseExpression("LGPL-2.1"), "LGPL-2.1-only");
  t.equal(licenseExpression("GPL-2+ or Artistic"), "GPL-2.0-or-later OR Artistic-1.0");
  t.equal(licenseExpression("Expat"), "MIT");
  t.equal(licenseExpression("BSD-3-clause"), "BSD-3-Clause");
  t.equal(licenseExpression("public-domain"), null, "no SPDX identifier: NOASSERTION for the package");
});

t.test("a crafted database: dpkg-query --admindir and our reader agree; hostile files are not read", async (t) => {
  const { mkdirSync, writeFileSync, symlinkSync, truncateSync } = await import("node:fs");
  const root = fresh("crafted-root");
  for (const d of ["usr/lib/x86_64-linux-gnu", "usr/bin", "var/lib/dpkg/info", "etc"]) mkdirSync(join(root, d), { recursive: true });
  symlinkSync("usr/lib", join(root, "lib"));
  symlinkSync("usr/bin", join(root, "bin"));
  for (const f of ["usr/lib/x86_64-linux-gnu/libfoo.so.1", "usr/bin/tool", "usr/bin/tool.distrib", "usr/bin/gone", "etc/local.conf"]) writeFileSync(join(root, f), "x");
  const stanza = (name: string, status: string, extra = "") => `Package: ${name}\nStatus: ${status}\nArchitecture: amd64\n${extra}Version: 1.0-1\nDescription: test\n a package\n`;
  writeFileSync(
    join(root, "var/lib/dpkg/status"),
    [
      stanza("libfoo1", "install ok installed", "Multi-Arch: same\n"),
      stanza("tool", "install ok installed"),
      stanza("divert-tool", "install ok installed"),
      stanza("gone", "deinstall ok config-files"),
    ].join("\n"),
  );
  const info = join(root, "var/lib/dpkg/info");
  writeFileSync(join(info, "format"), "1\n");
  writeFileSync(join(info, "libfoo1:amd64.list"), "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libfoo.so.1\n");
  writeFileSync(join(info, "tool.list"), "/.\n/bin\n/bin/tool\n");
  writeFileSync(join(info, "divert-tool.list"), "/.\n/usr/bin/tool\n");
  writeFileSync(join(info, "gone.list"), "/.\n/usr/bin/gone\n");
  writeFileSync(join(root, "var/lib/dpkg/diversions"), "/bin/tool\n/bin/tool.distrib\ndivert-tool\n");
  const admindir = join(root, "var/lib/dpkg");
  const db = openPackageDatabase(new RootFs(root))!;
  t.same(
    db
      .packages()
      .map((p) => p.key)
      .sort(),
    ["divert-tool", "libfoo1:amd64", "tool"],
    "installed packages only; Multi-Arch: same files as NAME:ARCH",
  );
  const real = run("dpkg-query", [`--admindir=${admindir}`, "-W", "-f", "${db:Status-Abbrev} ${binary:Package}\\n"])
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("ii"))
    .map((l) => l.split(" ").pop()!.split(":")[0])
    .sort();
  t.same(
    db
      .packages()
      .map((p) => p.name)
      .sort(),
    real,
    "the installed set dpkg-query -W gives",
  );
  for (const [canonical, listed] of [
    ["/usr/lib/x86_64-linux-gnu/libfoo.so.1", "/lib/x86_64-linux-gnu/libfoo.so.1"],
    ["/etc/local.conf", "/etc/local.conf"],
  ]) {
    const owner = dpkgOwners(admindir, [listed!]).get(listed!)?.split(":")[0] ?? "-";
    t.equal(db.ownersOf(canonical!)[0]?.name ?? "-", owner, `${canonical}: ${owner}, as dpkg-query -S ${listed}`);
  }
  // dpkg-query -S reports the diversion of a listed path beside its lister: the lister's file is at the diversion's target.
  const diversion = run("dpkg-query", [`--admindir=${admindir}`, "-S", "/bin/tool"]);
  const to = /^diversion by (\S+) to: (\S+)$/m.exec(diversion);
  const lister = /^([^ :]+): \/bin\/tool$/m.exec(diversion)?.[1];
  t.ok(to && lister, "dpkg-query -S /bin/tool names the diversion and the lister", { diversion });
  t.equal(db.ownersOf(`/usr${to![2]!}`)[0]?.name, lister, `${to![2]}: ${lister}'s diverted file`);
  t.equal(db.ownersOf("/usr/bin/tool")[0]?.name, to![1], "the diverted name holds the diverting package's file");
  // Hostile: status replaced by an absolute symlink (resolved inside the root) and a huge sparse list.
  const hostile = fresh("hostile-root");
  mkdirSync(join(hostile, "var/lib/dpkg/info"), { recursive: true });
  mkdirSync(join(hostile, "etc"), { recursive: true });
  writeFileSync(join(hostile, "etc/status"), stanza("inside", "install ok installed"));
  symlinkSync("/etc/status", join(hostile, "var/lib/dpkg/status"));
  writeFileSync(join(hostile, "var/lib/dpkg/info/inside.list"), "");
  truncateSync(join(hostile, "var/lib/dpkg/info/inside.list"), 1 << 40);
  const started = Date.now();
  const hdb = openPackageDatabase(new RootFs(hostile))!;
  t.same(
    hdb.packages().map((p) => p.name),
    ["inside"],
    "an absolute symlink resolves inside the root",
  );
  t.same(hdb.ownersOf("/etc/status"), [], "a 1 TiB list is not read");
  t.ok(Date.now() - started < 5000, "quickly");
});

t.test("--json and --tree name each object's package, as dpkg-query does", async (t) => {
  const r = await magicpakCli(["--json", "/usr/bin/jq"]);
  t.equal(r.status, 0, "magicpak --json /usr/bin/jq", { stderr: r.stderr });
  const graph = (JSON.parse(r.stdout) as { files: { graph: { objects: { realPath: string; package: { name: string; version: string } | null }[] } }[] }).files[0]!.graph;
  const owners = dpkgOwners(
    "/var/lib/dpkg",
    graph.objects.flatMap((o) => spellings(o.realPath)),
  );
  const expected = graph.objects.map(
    (o) =>
      spellings(o.realPath)
        .map((s) => owners.get(s))
        .find((x) => x !== undefined)
        ?.split(":")[0] ?? null,
  );
  t.same(
    graph.objects.map((o) => o.package?.name ?? null),
    expected,
    "each object's package",
  );
  const root = fixture("MAGICPAK_ARM64_ROOT");
  const version = run("dpkg-query", [`--admindir=${join(root, "var/lib/dpkg")}`, "-W", "-f", "${Version}", "bash"]);
  const tree = await magicpakCli(["--tree", "--root", root, "/usr/bin/bash"]);
  t.match(tree.stdout.split("\n")[0], `/usr/bin/bash {bash ${version}}`, "--tree: the root's bash and its version");
});

t.test("the records' reasons, and --exclude applies to them", async (t) => {
  const { graph } = await bundle({ inputs: ["/usr/bin/jq"], exclude: ["/var/lib/dpkg/status.d/libc6*"] });
  const record = graph.get("/var/lib/dpkg/status.d/libjq1");
  const version = run("dpkg-query", ["-W", "-f", "${Version}", "libjq1"]);
  t.same(record?.reasons, [{ kind: "package-record", package: `libjq1 ${version}`, file: "/usr/lib/x86_64-linux-gnu/libjq.so.1.0.4" }], "package record of FILE's package");
  t.notOk(graph.has("/var/lib/dpkg/status.d/libc6"), "excluded");
  t.ok(graph.get("/etc/os-release")?.kind === "file", "/etc/os-release is a file, not the root's symlink");
});
