// The plan every bundling stage works on, and the one signature of a stage. bundle() makes one
// Plan and runs the stages over it in order (lib/bundle/bundle.ts).

import type { FileGraph } from "../graph/file-graph.js";
import type { RootFs } from "../fs/root.js";
import type { Loader } from "../loader/load.js";
import type { LoadGraph } from "../loader/model.js";
import type { PackageDatabase } from "../provenance/dpkg.js";
import type { Logger } from "./log.js";
import type { Progress } from "../report/progress.js";
import type { BundleOptions } from "./options.js";

export interface Plan {
  readonly options: BundleOptions;
  readonly root: RootFs;
  /** Where relative inputs and patterns are taken from. */
  readonly cwd: string;
  readonly loader: Loader;
  /** The inputs as absolute paths in the root. */
  readonly inputs: string[];
  /** The files of the bundle, each with the reasons it is there. */
  readonly graph: FileGraph;
  /** The load graph of each input (first, in order), then of each ELF file a stage brought. */
  readonly loads: LoadGraph[];
  /** The root's package database, once the records stage has opened it. */
  packages: PackageDatabase | null;
  /** The SBOM's bytes, once the sbom stage has made it (images attach it). */
  sbom: Buffer | null;
  /** Where the bundle was written, once the output stage has written it. */
  output: string | null;
  readonly log: Logger;
  /** Steps shown to a person watching (silent unless bundle() was given one). */
  readonly progress: Progress;
}

/** One step of bundling: it reads the options it is about and adds to (or changes) the plan. */
export type Stage = (plan: Plan) => void | Promise<void>;
