// What the image config says about the program: its platform, read from the ELF header of the main
// executable, and its entrypoint, the path the executable is installed at in the bundle.

import { posix } from "node:path";
import { ElfError } from "../elf/errors.js";
import { readHeader } from "../elf/file.js";
import { followSymlinks, type FileGraph, type FileNode } from "../graph/file-graph.js";
import { abiOf } from "../loader/machines.js";
import type { ImageOptions } from "./config.js";
import { ImageError } from "./errors.js";

export interface ImagePlatform {
  architecture: string;
  variant?: string;
  os: "linux";
}

/** The platform of the ELF executable at `hostPath` (named `path` in errors). */
export function imagePlatform(hostPath: string, path: string = hostPath): ImagePlatform {
  let header;
  try {
    header = readHeader(path, hostPath);
  } catch (error) {
    if (error instanceof ElfError) throw new ImageError(path, `cannot tell the image platform: ${error.message}`);
    throw error;
  }
  const abi = abiOf(header);
  const known = abi?.oci;
  if (!abi || !known) throw new ImageError(path, `no image platform for ELF machine ${header.machine}${abi ? ` (${abi.name})` : ""}`);
  return { ...known, os: "linux" };
}

/**
 * The path to run `input` by in the image: where --install-to put it (a symlink there when the
 * input was one), else the input's own path when it resolves in the bundle to the input's file (so
 * /bin/bash stays /bin/bash and argv[0] is what the user named), else the file's path.
 */
export function imageEntrypoint(graph: FileGraph, input: string): string {
  const wanted = posix.normalize(input);
  const mine = graph.entries().filter((n) => n.reasons.some((r) => r.kind === "input" && posix.normalize(r.path) === wanted));
  const link = mine.find((n) => n.kind === "symlink");
  if (link) return link.path;
  const file = mine.find((n): n is FileNode => n.kind === "file");
  if (!file) throw new ImageError(input, "is not in the bundle (excluded?), so it cannot be the entrypoint");
  return followSymlinks(graph, wanted) === file.path ? wanted : file.path;
}

/** Entrypoint and platform for the main input: spread them into the options of a writer. */
export function imageDefaults(graph: FileGraph, input: string): Pick<ImageOptions, "entrypoint" | "architecture" | "variant" | "os"> {
  const entrypoint = imageEntrypoint(graph, input);
  const file = graph.get(followSymlinks(graph, entrypoint) ?? "");
  if (file?.kind !== "file") throw new ImageError(input, "does not resolve to a file in the bundle");
  const { architecture, variant, os } = imagePlatform(file.hostSource, file.source);
  return { entrypoint: [entrypoint], architecture, ...(variant !== undefined ? { variant } : {}), os };
}
