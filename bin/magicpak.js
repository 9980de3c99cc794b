#!/usr/bin/env node
import { runAsProgram } from "../dist/bin/cli.js";

await runAsProgram(process.argv.slice(2));
