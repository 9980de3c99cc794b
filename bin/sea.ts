// The entry point of the standalone binary (sea/build.mjs bundles it into the one CommonJS script
// Node's single executable application runs): bin/magicpak.js without top-level await, which a
// CommonJS script cannot have.

import { runAsProgram } from "./cli.js";

// A SEA's process.argv is [executable, executable, ...arguments], as node's is [node, script, ...].
void runAsProgram(process.argv.slice(2));
