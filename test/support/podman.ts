// The container engine of test/podman/: real podman with runc, in the private configuration that
// scripts/provision-podman.sh writes ($CACHE/podman/env.sh). Every call gets exactly that
// configuration, so the system's podman settings and storage (if any) play no part.
// A missing engine is a test failure with the remedy, never a skip.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "./fixtures.js";
import { runProcess, SYSTEM_PATH, type ProcessResult } from "./scratch-jail.js";

export interface Podman {
  /** The podman binary. */
  path: string;
  /** CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF. */
  env: Record<string, string>;
  /** docker.io/library/debian:bookworm, imported from mmdebstrap's tarball. */
  baseImage: string;
  /** The stand-in for docker.io/library/node:20-bookworm-slim. */
  nodeImage: string;
}

/** The provisioned engine, or the reason there is none (with what to run). */
export function provisionedPodman(): Podman | string {
  const file = join(cacheDir(), "podman/env.sh");
  const provision = process.env["MAGICPAK_PODMAN_PROVISION"];
  if (!existsSync(file)) {
    return `${file} is missing: scripts/provision-podman.sh did not run or failed${provision ? ` (${provision})` : ""}; run it as root`;
  }
  const vars: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^export ([A-Z0-9_]+)='([^']*)'$/.exec(line);
    if (m) vars[m[1]!] = m[2]!;
  }
  const need = ["CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF", "MAGICPAK_PODMAN", "MAGICPAK_PODMAN_BASE_IMAGE", "MAGICPAK_PODMAN_NODE_IMAGE"];
  const missing = need.filter((n) => vars[n] === undefined);
  if (missing.length > 0) return `${file} lacks ${missing.join(", ")}: re-run scripts/provision-podman.sh`;
  if (!existsSync(vars["MAGICPAK_PODMAN"]!)) return `${vars["MAGICPAK_PODMAN"]} (from ${file}) is missing: re-run scripts/provision-podman.sh`;
  if (provision !== undefined && !provision.startsWith("ready")) return `scripts/provision-podman.sh failed: ${provision}`;
  return {
    path: vars["MAGICPAK_PODMAN"]!,
    env: { CONTAINERS_CONF: vars["CONTAINERS_CONF"]!, CONTAINERS_STORAGE_CONF: vars["CONTAINERS_STORAGE_CONF"]!, CONTAINERS_REGISTRIES_CONF: vars["CONTAINERS_REGISTRIES_CONF"]! },
    baseImage: vars["MAGICPAK_PODMAN_BASE_IMAGE"]!,
    nodeImage: vars["MAGICPAK_PODMAN_NODE_IMAGE"]!,
  };
}

/** `podman ARGS` with the private configuration and nothing else of this process's environment. */
export function podman(engine: Podman, args: string[], options: { stdin?: string; timeoutMs?: number; cwd?: string } = {}): Promise<ProcessResult> {
  return runProcess(engine.path, args, {
    env: { PATH: SYSTEM_PATH, HOME: process.env["HOME"] ?? "/root", ...engine.env },
    stdin: options.stdin,
    cwd: options.cwd,
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

/** Every image ID in the store, intermediate ones included. */
export async function imageIds(engine: Podman): Promise<Set<string>> {
  const r = await podman(engine, ["images", "--all", "--quiet", "--no-trunc"]);
  if (r.status !== 0) throw new Error(`podman images: ${r.stderr.trim()}`);
  return new Set(r.stdout.split("\n").filter((l) => l !== ""));
}

/**
 * Removes the containers, and every image that was not in `before` (tagged ones and the
 * intermediate layers of builds, also of a failed build). Returns what could not be removed.
 */
export async function removeCreated(engine: Podman, containers: string[], before: Set<string>): Promise<string[]> {
  const problems: string[] = [];
  if (containers.length > 0) {
    const rm = await podman(engine, ["rm", "--force", ...containers]);
    if (rm.status !== 0) problems.push(`podman rm: ${rm.stderr.trim()}`);
  }
  const created = [...(await imageIds(engine))].filter((id) => !before.has(id));
  if (created.length > 0) {
    const rmi = await podman(engine, ["rmi", "--force", ...created]);
    if (rmi.status !== 0) problems.push(`podman rmi: ${rmi.stderr.trim()}`);
  }
  const left = [...(await imageIds(engine))].filter((id) => !before.has(id));
  if (left.length > 0) problems.push(`images left: ${left.join(" ")}`);
  return problems;
}

/**
 * What a failed `podman build` log says, in one line: a network failure of the build (apt to
 * deb.debian.org, npm to its registry) named as such, else the first error line.
 */
export function buildFailure(log: string): string {
  const lines = log.split("\n");
  const network = lines.find((l) =>
    /Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect|EAI_AGAIN|ENOTFOUND|ECONNREFUSED|ETIMEDOUT|network is unreachable|SELF_SIGNED_CERT|local issuer certificate|certificate verify failed/i.test(
      l,
    ),
  );
  if (network) return `the build's network failed (apt needs deb.debian.org, npm its registry): ${network.trim()}`;
  const error = lines.find((l) => /^(error|Error):/.test(l.trim()));
  return (
    error?.trim() ??
    lines
      .filter((l) => l.trim() !== "")
      .slice(-3)
      .join(" | ")
  );
}
