#!/usr/bin/env node
import { main } from "../dist/bin/cli.js";

// A closed pipe (`magicpak --list ... | head`) ends the run quietly, as for any Unix filter.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  // Never a stack trace for the user; MAGICPAK_DEBUG=1 shows it.
  if (process.env.MAGICPAK_DEBUG) console.error(error);
  else console.error(`error: internal error: ${error?.message ?? error} (set MAGICPAK_DEBUG=1 for details)`);
  process.exitCode = 1;
}
