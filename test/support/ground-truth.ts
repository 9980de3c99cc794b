// Ground truth from the real loaders, at test time: the listings our --list must reproduce.

import { runProcess } from "../../lib/process.js";
import { accessSync, constants, readdirSync, type Dirent } from "node:fs";
import { ElfError, readElf, type ElfFile } from "../../lib/index.js";

export interface LoaderRun {
  lines: string[];
  stderr: string;
  status: number | null;
}

/** Removes the " (0x...)" suffixes and the vDSO line ("linux-vdso.so.1", or a nameless one under qemu). */
export function normaliseTrace(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => line.replace(/ \(0x[0-9a-f]+\)$/, ""))
    .filter((line) => !/^\t(linux-vdso\.so\.1|linux-gate\.so\.1|linux-vdso64\.so\.1)?$/.test(line) && line.trim() !== "");
}

export async function run(command: string, args: string[], env: Record<string, string> = {}, timeoutMs = 20000): Promise<LoaderRun> {
  const { stdout, stderr, status } = await runProcess(command, args, { env, timeoutMs });
  return { lines: normaliseTrace(stdout), stderr, status };
}

/** Runs tasks with at most `limit` in flight, keeping results in input order. */
export async function pool<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!);
    }
  });
  await Promise.all(workers);
  return results;
}

export interface ElfEntry {
  path: string;
  elf: ElfFile;
}

/** Every regular file under `dirs` (not following symlinks) that is a dynamically linked ELF object. */
export function dynamicElfFiles(dirs: string[], rootPrefix = ""): { files: ElfEntry[]; unreadable: { path: string; reason: string }[] } {
  const files: ElfEntry[] = [];
  const unreadable: { path: string; reason: string }[] = [];
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(rootPrefix + dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        try {
          const elf = readElf(path, {}, rootPrefix + path);
          if (elf.dynamic) files.push({ path, elf });
        } catch (error) {
          if (!(error instanceof ElfError)) throw error;
          if (error.defect !== "not-elf" && error.defect !== "io" && !(error.defect === "truncated" && error.detail === "file too short")) {
            unreadable.push({ path, reason: error.message });
          }
        }
      }
    }
  };
  for (const dir of dirs) walk(dir);
  return { files, unreadable };
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
