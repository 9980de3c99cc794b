// Slimming an existing image (--from-image) and building one multi-platform image from several
// roots (--root OS/ARCH=DIR): each platform is bundled by bundle() from its own root exactly as
// with --root, then the images are written once, with one manifest per platform in an index.

import { mkdirSync } from "node:fs";
import { join, posix } from "node:path";
import { RootFs } from "../fs/root.js";
import { DEFAULT_PATH, imageDefaults, ImageError, writeDockerArchive, writeOciArchive, writeOciLayout, type ImageOptions } from "../image/index.js";
import { writeOciArchiveIndex, writeOciLayoutIndex, type PlatformImage } from "../image/oci.js";
import { EXTRACT_LIMITS, extractImage, formatPlatform, openImageSource, parsePlatform, type SourcePlatform, type SourceRunConfig } from "../image/source.js";
import { bundle, type BundleOptions, type BundleResult } from "./bundle.js";
import type { FromImageOptions } from "./options.js";
import { checkFromImageOptions } from "./check-options.js";
import { BundleError } from "./errors.js";
import { present } from "../present.js";

export type { FromImageOptions };

export interface FromImagePlatformResult {
  platform: string;
  /** The program bundled (the first input). */
  input: string;
  /** Bytes of the source image as stored (layers and config); 0 for a root. */
  inputSize: number;
  /** Bytes of the output image as stored (gzipped layer and config), or of the bundle's files when no image is written. */
  outputSize: number;
  bundle: BundleResult;
  image: ImageOptions;
}

export interface FromImageResult {
  platforms: FromImagePlatformResult[];
  /** Each image written: what, where, its digest (the index's for several platforms). */
  images: { what: string; path: string; digest: string }[];
}

/** Bundles every platform of an image (or every root) and writes one image with them all. */
export async function bundleFromImage(options: FromImageOptions): Promise<FromImageResult> {
  checkFromImageOptions(options);
  const log = options.log ?? (() => undefined);
  if ((options.source === undefined) === (options.roots === undefined || options.roots.length === 0))
    throw new BundleError("--from-image", "give either an image or one --root OS/ARCH=DIR per platform");
  const want = options.platform !== undefined ? parsePlatform(options.platform) : undefined;
  const cleanups: (() => void)[] = [];
  try {
    const sources: { platform: SourcePlatform; root: string; config: SourceRunConfig; inputSize: number }[] = [];
    if (options.source !== undefined) {
      const opened = await openImageSource(options.source, { platform: want });
      cleanups.push(() => opened.close());
      for (const image of opened.images) {
        log("Info", `extract ${formatPlatform(image.platform)} of ${options.source}: ${image.layers.length} layers, ${image.size} bytes`);
        const extracted = await extractImage(image, options.limits ?? EXTRACT_LIMITS);
        cleanups.push(() => extracted.remove());
        sources.push({ platform: image.platform, root: extracted.root, config: image.config, inputSize: image.size });
      }
    } else {
      for (const { platform, root } of present(options.roots, "--root (there is no --from-image)")) sources.push({ platform: parsePlatform(platform), root, config: {}, inputSize: 0 });
      if (want) {
        const kept = sources.filter((s) => s.platform.os === want.os && s.platform.architecture === want.architecture);
        sources.splice(0, sources.length, ...kept);
        if (sources.length === 0) throw new BundleError(`--platform ${options.platform}`, "no --root of that platform");
      }
    }
    const names = sources.map((s) => formatPlatform(s.platform));
    if (new Set(names).size !== names.length) throw new BundleError("--root", `a platform is given twice (${names.join(", ")})`);
    const several = sources.length > 1;
    if (several && options.output !== undefined) mkdirSync(options.output, { recursive: true });
    const results: FromImagePlatformResult[] = [];
    for (const source of sources) {
      const name = formatPlatform(source.platform);
      const program = configProgram(source.config);
      const inputs = options.inputs && options.inputs.length > 0 ? options.inputs : program ? [resolveProgram(source.root, program, source.config, name)] : null;
      if (!inputs) throw new BundleError(options.source ?? name, "the image config has no Entrypoint or Cmd: name the program to bundle");
      const input = present(inputs[0], "the program to bundle");
      const tools = options.testTools?.[name] ?? options.testTools?.[`${source.platform.os}/${source.platform.architecture}`];
      const workdir = source.config.WorkingDir && source.config.WorkingDir !== "/" ? source.config.WorkingDir : undefined;
      const hasWorkdir = workdir !== undefined && new RootFs(source.root).tryResolve(workdir)?.stats.isDirectory() === true;
      log("Info", `bundle ${input} for ${name}`);
      // The jail's API has no environment or working directory yet: the test runs with its own.
      const result = await bundle({
        ...bundleOptionsOf(options),
        root: source.root,
        inputs,
        output: options.output === undefined ? undefined : several ? join(options.output, name.replaceAll("/", "-")) : options.output,
        mkdir: [...(options.mkdir ?? []), ...(hasWorkdir && workdir !== undefined ? [workdir] : [])],
        images: undefined,
        test: options.test ? { ...options.test, ...(tools ?? {}) } : undefined,
      });
      const explicit = options.inputs?.[0];
      const carry = program !== null && (explicit === undefined || sameProgram(explicit, program, () => resolveProgram(source.root, program, source.config, name)));
      const image = imageOptionsFor(result, input, carry, source.config, options);
      if (image.architecture !== source.platform.architecture) throw new BundleError(input, `is ${image.architecture}, but the image is ${name}`);
      const outputSize = result.graph.entries().reduce((sum, n) => sum + (n.kind === "file" ? n.size : n.kind === "generated" ? n.content.length : 0), 0);
      results.push({ platform: name, input, inputSize: source.inputSize, outputSize, bundle: result, image });
    }
    const images = await writeImages(results, options.images);
    for (const line of images) log("Info", `${line.what} ${line.path}: ${line.digest}`);
    return { platforms: results, images };
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
  }
}

/** Whether the INPUT given is the config's program (by its name or the path it resolves to). */
function sameProgram(given: string, program: string, resolved: () => string): boolean {
  if (given === program) return true;
  try {
    return posix.normalize(given) === resolved();
  } catch {
    return false;
  }
}

/** The config's program: Entrypoint's first element, else Cmd's. */
function configProgram(config: SourceRunConfig): string | null {
  const first = (config.Entrypoint && config.Entrypoint[0]) || (config.Cmd && config.Cmd[0]);
  return first ? first : null;
}

/** A program name without "/" looked up on the image's PATH inside the root, as the runtime does. */
function resolveProgram(root: string, program: string, config: SourceRunConfig, platform: string): string {
  if (program.includes("/")) return posix.isAbsolute(program) ? program : posix.join(config.WorkingDir || "/", program);
  const pathEntry = (config.Env ?? []).find((e) => e.startsWith("PATH=")) ?? DEFAULT_PATH;
  const fs = new RootFs(root);
  for (const dir of pathEntry.slice(5).split(":")) {
    if (!dir.startsWith("/")) continue;
    const candidate = posix.join(dir, program);
    const found = fs.tryResolve(candidate);
    if (found?.stats.isFile() && (found.stats.mode & 0o111) !== 0) return candidate;
  }
  throw new BundleError(program, `the image's program is not on its PATH (${pathEntry.slice(5)}) in ${platform}`);
}

/** The output image's config: the source's, with the program's path and platform from the bundle. */
function imageOptionsFor(result: BundleResult, input: string, carry: boolean, config: SourceRunConfig, options: FromImageOptions): ImageOptions {
  const defaults = imageDefaults(result.graph, input);
  const given = options.images?.config ?? {};
  let entrypoint = defaults.entrypoint;
  let cmd: string[] | undefined;
  if (options.installTo !== undefined) entrypoint = [installPath(options.installTo, input)];
  if (carry) {
    // Entrypoint and Cmd as the image had them; only the program is moved by --install-to.
    const program = options.installTo !== undefined ? present(entrypoint[0], "the installed program") : undefined;
    if (config.Entrypoint && config.Entrypoint.length > 0) {
      entrypoint = program ? [program, ...config.Entrypoint.slice(1)] : [...config.Entrypoint];
      cmd = config.Cmd ?? undefined;
    } else if (config.Cmd && config.Cmd.length > 0) {
      // Without an Entrypoint the program becomes the Entrypoint (an image needs one here), its arguments the Cmd.
      entrypoint = [program ?? present(config.Cmd[0], "Cmd[0]")];
      cmd = config.Cmd.slice(1);
    }
  }
  const labels = { ...(config.Labels ?? {}), ...(given.labels ?? {}) };
  return {
    ...defaults,
    entrypoint,
    ...(cmd !== undefined ? { cmd } : {}),
    ...(config.Env ? { env: [...config.Env] } : {}),
    ...(config.WorkingDir ? { workdir: config.WorkingDir } : {}),
    ...(config.User ? { user: config.User } : {}),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    ...(config.ExposedPorts ? { exposedPorts: Object.keys(config.ExposedPorts) } : {}),
    ...(config.Volumes ? { volumes: Object.keys(config.Volumes) } : {}),
    ...(config.StopSignal ? { stopSignal: config.StopSignal } : {}),
    ...given,
    ...(given.env ? { env: [...(config.Env ?? []), ...given.env] } : {}),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
  } as ImageOptions;
}

function installPath(installTo: string, input: string): string {
  const wanted = posix.normalize(posix.isAbsolute(installTo) ? installTo : `/${installTo}`);
  return installTo.endsWith("/") ? posix.join(wanted, posix.basename(input)) : wanted;
}

async function writeImages(results: FromImagePlatformResult[], images: BundleOptions["images"]): Promise<{ what: string; path: string; digest: string }[]> {
  const out: { what: string; path: string; digest: string }[] = [];
  if (!images) return out;
  const platforms: PlatformImage[] = results.map((r) => ({ graph: r.bundle.graph, options: r.image }));
  if (platforms.length === 1) {
    const [{ graph, options }] = platforms as [PlatformImage];
    const sizes: number[] = [];
    if (images.ociLayout) {
      const r = await writeOciLayout(graph, images.ociLayout, options);
      sizes.push(r.layer.size + r.config.size);
      out.push({ what: "OCI image layout", path: r.path, digest: r.digest });
    }
    if (images.ociArchive) {
      const r = await writeOciArchive(graph, images.ociArchive, options);
      sizes.push(r.layer.size + r.config.size);
      out.push({ what: "OCI archive", path: r.path, digest: r.digest });
    }
    if (images.dockerArchive) {
      const r = await writeDockerArchive(graph, images.dockerArchive, options);
      out.push({ what: "Docker archive", path: r.path, digest: r.digest });
    }
    const [size] = sizes;
    if (size !== undefined) present(results[0], "the one platform's result").outputSize = size;
    return out;
  }
  if (images.dockerArchive) throw new ImageError(images.dockerArchive, `a Docker archive holds one platform, not ${platforms.length}: choose one with --platform, or write --oci/--oci-archive`);
  let multi = null;
  if (images.ociLayout) {
    multi = await writeOciLayoutIndex(platforms, images.ociLayout);
    out.push({ what: "OCI image layout", path: multi.path, digest: multi.digest });
  }
  if (images.ociArchive) {
    multi = await writeOciArchiveIndex(platforms, images.ociArchive);
    out.push({ what: "OCI archive", path: multi.path, digest: multi.digest });
  }
  if (multi) multi.images.forEach((image, i) => (present(results[i], `the result of platform ${i}`).outputSize = image.layer.size + image.config.size));
  return out;
}

/** What bundle() is asked for of the options: all but the source, platform and limits of the images. */
function bundleOptionsOf(options: FromImageOptions): Omit<BundleOptions, "root" | "inputs"> {
  const { source: _source, platform: _platform, roots: _roots, inputs: _inputs, testTools: _testTools, limits: _limits, ...rest } = options;
  return rest;
}
