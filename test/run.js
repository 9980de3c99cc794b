#!/usr/bin/env node
// Runs every compiled test file under tap and closes with the line CI reads: "N passed, N failed".
// Test tools and fixtures are provisioned first (cached outside the checkout; seconds when present).

import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const root = join(here, "..");
// --unit (npm run test:unit): only dist/test/unit, with no provisioning and no Rust build; the
// unit tests read the fixture cache a previous run left (a missing fixture fails, naming the remedy).
const unitOnly = process.argv.includes("--unit");

if (!unitOnly) provisionAndBuildNative();

function provisionAndBuildNative() {
  const provision = spawnSync("bash", [join(root, "test/fixtures/provision.sh")], { stdio: ["ignore", "inherit", "inherit"] });
  if (provision.status !== 0) {
    console.log("0 passed, 1 failed");
    process.exitCode = 1;
    process.exit();
  }

  // The optional native addon (native/, Rust): built here whenever the tests run. Without cargo, or
  // when the build fails, the tests go on and test/native/addon.test.ts fails with this reason.
  const napi = join(root, "node_modules/.bin/napi");
  const started = Date.now();
  if (spawnSync("cargo", ["--version"], { stdio: "ignore" }).status !== 0) {
    process.env.MAGICPAK_NATIVE_BUILD = "cargo is not on PATH: install Rust (cargo) so that `npm run build:native` can build native/";
  } else {
    const build = spawnSync(napi, ["build", "--platform", "--release"], { cwd: join(root, "native"), stdio: ["ignore", 2, 2] });
    process.env.MAGICPAK_NATIVE_BUILD =
      build.status === 0 ? `built in ${((Date.now() - started) / 1000).toFixed(1)} s` : `\`npm run build:native\` failed (${build.error?.message ?? `exit ${build.status}`}): see its output above`;
  }
  console.error(`[native] ${process.env.MAGICPAK_NATIVE_BUILD}`);

  // Its aarch64 build (native/magicpak.linux-arm64-gnu.node) with the toolchain provision.sh unpacked,
  // for test/native/trace-aarch64.test.ts, which runs it on an aarch64 kernel in qemu-system-aarch64.
  // A failure is reported by that test, like the build above by test/native/addon.test.ts.
  const crossStarted = Date.now();
  const cross = spawnSync("bash", [join(root, "scripts/build-native-arm64.sh")], { stdio: ["ignore", 2, 2] });
  process.env.MAGICPAK_NATIVE_ARM64_BUILD =
    cross.status === 0
      ? `built in ${((Date.now() - crossStarted) / 1000).toFixed(1)} s`
      : `\`npm run build:native:arm64\` failed (${cross.error?.message ?? `exit ${cross.status}`}): see its output above`;
  console.error(`[native arm64] ${process.env.MAGICPAK_NATIVE_ARM64_BUILD}`);
}

const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith(".test.js")) files.push(path);
  }
};
walk(join(root, unitOnly ? "dist/test/unit" : "dist/test"));
const only = process.argv.slice(2).filter((a) => a !== "--unit");
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;

// The container engine of test/podman/ (scripts/provision-podman.sh: podman, runc and local base
// images), when those tests run. A failure is reported by test/podman/build.test.ts.
if (selected.some((f) => f.includes("/dist/test/podman/"))) {
  const podmanStarted = Date.now();
  const podman = spawnSync("bash", [join(root, "scripts/provision-podman.sh")], { stdio: ["ignore", 2, 2] });
  process.env.MAGICPAK_PODMAN_PROVISION =
    podman.status === 0
      ? `ready in ${((Date.now() - podmanStarted) / 1000).toFixed(1)} s`
      : `scripts/provision-podman.sh failed (${podman.error?.message ?? `exit ${podman.status}`}): see its output above`;
  console.error(`[podman] ${process.env.MAGICPAK_PODMAN_PROVISION}`);
}

const tap = spawnSync(
  join(root, "node_modules/.bin/tap"),
  ["--disable-coverage", "--allow-empty-coverage", "-R", "tap", "--timeout", "1200", "--jobs", "2", ...selected],
  { cwd: root, encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "inherit"] },
);
process.stdout.write(tap.stdout ?? "");
const summary = /# \{ ([^}]*) \}\s*$/m.exec(tap.stdout ?? "");
const count = (key) => Number(new RegExp(`${key}: (\\d+)`).exec(summary?.[1] ?? "")?.[1] ?? 0);
const failed = count("fail") + (summary ? 0 : 1);
const skipped = count("skip") + count("todo");
console.log(`${count("pass")} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exitCode = (tap.status === 0 && failed === 0 && skipped === 0 ? 0 : 1);
