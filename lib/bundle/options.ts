// What bundle() is asked for (BundleOptions) and what it returns (BundleResult); what
// bundleFromImage() is asked for (FromImageOptions).

import type { FileGraph } from "../graph/file-graph.js";
import type { ImageOptions } from "../image/config.js";
import type { ExtractLimits } from "../image/source.js";
import type { TargetEnvironment } from "../loader/load.js";
import type { JailNetwork } from "../jail/jail.js";
import type { LoadGraph } from "../loader/model.js";
import type { PackageDatabase } from "../provenance/dpkg.js";
import type { SbomFormat } from "../provenance/sbom.js";
import type { TracerChoice } from "../trace/index.js";
import type { ExtrasOptions } from "./extras.js";
import type { Logger } from "./log.js";
import type { Progress } from "../report/progress.js";

export interface BundleOptions {
  /** Executables, as paths inside the root (relative ones against `cwd`). */
  inputs: string[];
  /** The directory to write; absent or empty. Omit to plan only. */
  output?: string;
  /** Root filesystem to bundle from (default "/"). */
  root?: string;
  /** Working directory for relative inputs and patterns (default: this process's for "/", else "/"). */
  cwd?: string;
  include?: string[];
  exclude?: string[];
  mkdir?: string[];
  /** Where the input goes in the image; a trailing "/" appends the input's file name. */
  installTo?: string;
  /**
   * --dynamic: run each input once under a tracer and add every file it (or a process it started)
   * successfully opened, executed, stat'ed or read as a link; ELF files bring their closure.
   */
  dynamic?: { args?: string[]; stdin?: string; timeoutMs?: number; tracer?: TracerChoice };
  /**
   * --dynamic-test: the workload is traced and what its processes used is bundled. The --test
   * command (with its stdin; needs `test`) unless `testCommand` is false, then each of `commands`,
   * run by a harness shell (the --test busybox) under strace in the root (chroot for --root),
   * with PATH as the image's and `env`; killed after `timeoutMs` (default 300 s). Objects the run
   * loaded satisfy the DT_NEEDED of what it found; files it created or truncated are left out, the directories
   * it wrote in come as directories with the root's mode.
   */
  dynamicTest?: {
    testCommand?: boolean;
    commands?: string[];
    env?: Record<string, string>;
    timeoutMs?: number;
    /** Trace through the emulator even for programs of this machine (tests the foreign-root path here). */
    emulateHostArchitecture?: boolean;
  };
  /**
   * --compress: each input executable is packed with UPX (built in as WebAssembly, or the native
   * upx given) after analysis and before the test, so the test runs the packed program.
   */
  compress?: { upxArgs?: string[]; upx?: string };
  /**
   * Container images of the bundle, written after the test passed: an OCI image layout, an OCI
   * archive and/or a Docker archive. Entrypoint and platform default to the first input's.
   */
  images?: { ociLayout?: string; ociArchive?: string; dockerArchive?: string; config?: Partial<ImageOptions> };
  /** Runtime extras: NSS, libgcc_s, .note.dlopen, gconv, CA certificates, passwd, /tmp, tzdata, ld.so.cache. */
  extras?: ExtrasOptions;
  /**
   * Package records for scanners (default true; --no-package-records): when the root has a dpkg
   * database, /var/lib/dpkg/status.d/<package> (+ <package>.md5sums) for each package the bundle's
   * files come from, and the root's /etc/os-release and /etc/debian_version as files.
   */
  packageRecords?: boolean;
  /**
   * --sbom: write the bundle's SBOM (SPDX 2.3 JSON, or CycloneDX 1.5 JSON) to `path` after the
   * test passed; OCI images get it attached as an artifact referring to the image manifest.
   */
  sbom?: { path: string; format?: SbomFormat };
  /** The target's environment (LD_LIBRARY_PATH, LD_PRELOAD), never this process's. */
  environment?: Pick<TargetEnvironment, "libraryPath" | "preload">;
  test?: {
    /** Default: each input's file name. */
    command?: string;
    stdin?: string;
    stdout?: string;
    /** A static busybox of the inputs' architecture or this machine's (default: found on PATH, see JailOptions). */
    busybox?: string;
    /** The static qemu-user for inputs of another architecture (default: qemu-<arch>-static on PATH). */
    emulator?: string;
    /** Each test command is killed after this long, a test failure (default 300 000: five minutes). */
    timeoutMs?: number;
    /** "none" (default): the jail has only loopback; "host": it shares the host's network. */
    network?: JailNetwork;
  };
  log?: Logger;
  /**
   * Steps with counts and bytes for a person watching (lib/report/progress.ts); none by default.
   * Pass what `log` writes through its around(), so that no message lands inside a step's line.
   */
  progress?: Progress;
}

export interface BundleResult {
  graph: FileGraph;
  /** The load graph of each input. */
  loads: LoadGraph[];
  output: string | null;
  /** The root's package database (null when it has none): which package each file comes from. */
  packages: PackageDatabase | null;
}

export interface FromImageOptions extends Omit<BundleOptions, "root" | "inputs"> {
  /** --from-image: an OCI layout directory (DIR or DIR:TAG), an OCI archive or a Docker archive. */
  source?: string;
  /** --platform OS/ARCH[/VARIANT]: one platform of the source; default every platform it has. */
  platform?: string;
  /** Instead of a source: one root per platform (--root linux/arm64=DIR, repeated). */
  roots?: { platform: string; root: string }[];
  /** Default: the source config's Entrypoint, else Cmd, first element, resolved through its PATH. */
  inputs?: string[];
  /** Per-platform --test tools ("linux/arm64" -> busybox/emulator), over options.test's. */
  testTools?: Record<string, { busybox?: string; emulator?: string }>;
  /** Bounds on each platform's extracted layers (default EXTRACT_LIMITS). */
  limits?: ExtractLimits;
}
