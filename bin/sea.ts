// The entry point of the standalone binary (sea/build.mjs bundles it into the one CommonJS script
// Node's single executable application runs): what bin/magicpak.js does for the npm package,
// without top-level await, which a CommonJS script cannot have.

import { main } from "./cli.js";

// A closed pipe (`magicpak --list ... | head`) ends the run quietly, as for any Unix filter.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

// A SEA's process.argv is [executable, executable, ...arguments], as node's is [node, script, ...].
main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    // Never a stack trace for the user; MAGICPAK_DEBUG=1 shows it.
    if (process.env["MAGICPAK_DEBUG"]) console.error(error);
    else console.error(`error: internal error: ${(error as Error | undefined)?.message ?? String(error)} (set MAGICPAK_DEBUG=1 for details)`);
    process.exitCode = 1;
  },
);
