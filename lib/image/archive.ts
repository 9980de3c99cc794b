// A tar of given entries written to a file in one streaming pass (the outer archive of an OCI
// archive or a Docker archive; entries are already sorted by the caller).

import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { tarStream, type TarEntry } from "./tar.js";

export async function writeTar(file: string, entries: TarEntry[], mtime: number): Promise<void> {
  await pipeline(tarStream(entries, { mtime }), createWriteStream(file, { flags: "wx", mode: 0o644 }));
}
