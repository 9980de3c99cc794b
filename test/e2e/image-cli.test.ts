// The image options of the command line: --oci, --oci-archive, --docker-archive with --cmd, --env,
// --workdir, --user, --label and --tag, checked with the real skopeo.

import t from "tap";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture } from "../support/fixtures.js";

const bin = new URL("../../../bin/magicpak.js", import.meta.url).pathname;
const base = mkdtempSync(join(tmpdir(), "magicpak-image-cli-"));
t.teardown(() => rmSync(base, { recursive: true, force: true }));

function magicpak(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { PATH: "/usr/bin:/bin", SOURCE_DATE_EPOCH: "1700000000" } });
}

function skopeo(...args: string[]) {
  const r = spawnSync(fixture("MAGICPAK_SKOPEO"), ["--policy", fixture("MAGICPAK_SKOPEO_POLICY"), ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

t.test("--oci, --oci-archive and --docker-archive with the image options", async (t) => {
  const oci = join(base, "oci");
  const archive = join(base, "jq.oci.tar");
  const docker = join(base, "jq.docker.tar");
  const r = magicpak(
    "/usr/bin/jq",
    join(base, "out"),
    "--install-to",
    "/bin/",
    "--oci",
    oci,
    "--oci-archive",
    archive,
    "--docker-archive",
    docker,
    "--cmd",
    "-n",
    "--cmd",
    "1+1",
    "--env",
    "GREETING=hi",
    "--workdir",
    "/work",
    "--user",
    "65534",
    "--label",
    "org.example=yes",
    "--tag",
    "jq:test",
  );
  t.equal(r.status, 0, r.stderr);
  for (const ref of [`oci:${oci}:jq:test`, `oci-archive:${archive}`, `docker-archive:${docker}`]) {
    const config = skopeo("inspect", "--config", ref) as { architecture: string; os: string; config: Record<string, unknown>; created: string };
    t.equal(config.architecture, "amd64", ref);
    t.equal(config.os, "linux");
    t.same(config.config["Entrypoint"], ["/bin/jq"], "the installed path");
    t.same(config.config["Cmd"], ["-n", "1+1"], "--cmd values may start with -");
    t.same(config.config["Env"], ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hi"]);
    t.equal(config.config["WorkingDir"], "/work");
    t.equal(config.config["User"], "65534");
    t.same(config.config["Labels"], { "org.example": "yes" });
    t.equal(config.created, "2023-11-14T22:13:20Z", "SOURCE_DATE_EPOCH");
  }
  // Reproducible: the same command gives the same digest.
  const again = join(base, "oci2");
  t.equal(
    magicpak(
      "/usr/bin/jq",
      join(base, "out2"),
      "--install-to",
      "/bin/",
      "--oci",
      again,
      "--cmd",
      "-n",
      "--cmd",
      "1+1",
      "--env",
      "GREETING=hi",
      "--workdir",
      "/work",
      "--user",
      "65534",
      "--label",
      "org.example=yes",
      "--tag",
      "jq:test",
    ).status,
    0,
  );
  t.equal(skopeo("inspect", `oci:${again}:jq:test`)["Digest"], skopeo("inspect", `oci:${oci}:jq:test`)["Digest"]);
});

t.test("image option errors: one line, exit 1 or 2, nothing written", async (t) => {
  const bad = magicpak("/usr/bin/jq", join(base, "o3"), "--oci", join(base, "oci3"), "--env", "NOEQUALS");
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^error: .*NOEQUALS.*\n$/);
  t.notOk(existsSync(join(base, "oci3")));
  t.equal(magicpak("/usr/bin/jq", join(base, "o4"), "--oci", join(base, "oci4"), "--label", "nokey").status, 2);
});
