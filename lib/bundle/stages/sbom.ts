// --sbom: the tested plan's SBOM (SPDX 2.3 or CycloneDX 1.5 JSON), written whole or not at all;
// the images stage attaches it.

import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, posix, resolve as resolveHost } from "node:path";
import { readOsRelease } from "../../provenance/dpkg.js";
import { buildSbom } from "../../provenance/sbom.js";
import { BundleError } from "../errors.js";
import type { Plan } from "../plan.js";

export function sbom(plan: Plan): void {
  const sbom = plan.options.sbom;
  if (!sbom) return;
  const format = sbom.format ?? "spdx";
  if (format !== "spdx" && format !== "cyclonedx") throw new BundleError("--sbom-format", `must be spdx or cyclonedx (got ${JSON.stringify(format)})`);
  const bytes = buildSbom(plan.graph, plan.root, plan.packages, readOsRelease(plan.root), { format, name: `magicpak bundle of ${plan.inputs.map((i) => posix.basename(i)).join(", ")}` });
  const path = resolveHost(sbom.path);
  const partial = `${path}.magicpak-partial`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(partial, bytes, { mode: 0o644 });
    renameSync(partial, path);
  } catch (error) {
    rmSync(partial, { force: true });
    throw new BundleError(sbom.path, `cannot write the SBOM: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  plan.log("Info", `SBOM (${format}) ${path}: ${bytes.length} bytes`);
  plan.sbom = bytes;
}
