// Container images of the tested plan: an OCI image layout, an OCI archive and/or a Docker
// archive, with the first input as the entrypoint (at --install-to when given) and the SBOM attached.

import type { FileGraph } from "../../graph/file-graph.js";
import { imageDefaults, writeDockerArchive, writeOciArchive, writeOciLayout, type ImageOptions, type ImageResult } from "../../image/index.js";
import { SBOM_MEDIA_TYPES } from "../../provenance/sbom.js";
import type { Plan } from "../plan.js";
import { installPath } from "./inputs.js";
import { present } from "../../present.js";

export async function images(plan: Plan): Promise<void> {
  const images = plan.options.images;
  if (!images || !(images.ociLayout || images.ociArchive || images.dockerArchive)) return;
  const input = present(plan.inputs[0], "the first input");
  const defaults = imageDefaults(plan.graph, input);
  // With --install-to the image runs the program by the path the user chose (/bin/ + name).
  const entrypoint = plan.options.installTo !== undefined ? [installPath(plan.options.installTo, input)] : defaults.entrypoint;
  const config: ImageOptions = { ...defaults, entrypoint, ...images.config } as ImageOptions;
  if (plan.sbom) {
    const type = SBOM_MEDIA_TYPES[plan.options.sbom?.format ?? "spdx"];
    config.attachments = [...(config.attachments ?? []), { artifactType: type, mediaType: type, content: plan.sbom }];
  }
  const written: [string | undefined, (g: FileGraph, p: string, o: ImageOptions) => Promise<ImageResult>, string][] = [
    [images.ociLayout, writeOciLayout, "OCI image layout"],
    [images.ociArchive, writeOciArchive, "OCI archive"],
    [images.dockerArchive, writeDockerArchive, "Docker archive"],
  ];
  for (const [path, write, what] of written) {
    if (!path) continue;
    const step = plan.progress.step(`write the ${what} ${path}`);
    const result = await write(plan.graph, path, config);
    step.done(result.digest);
    plan.log("Info", `${what} ${path}: ${result.digest}`);
  }
}
