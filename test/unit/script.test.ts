// The "#!" line and what `env` runs for it (lib/bundle/script.ts).

import t from "tap";
import { envProgram } from "../../lib/bundle/script.js";

t.test("the program env runs for a #!/usr/bin/env line", async (t) => {
  t.equal(envProgram("python3"), "python3");
  t.equal(envProgram(null), null);
  t.equal(envProgram("-S python3 -u"), "python3", "-S splits the argument");
  t.equal(envProgram("-Spython3 -u"), "python3", "-S joined to its value");
  t.equal(envProgram("-S -i LANG=C perl -w"), "perl", "options and NAME=VALUE are skipped");
  t.equal(envProgram("--split-string=x"), null, "an option only");
  t.equal(envProgram("python3 -u"), "python3 -u", "without -S the whole rest is one name, as Linux passes it");
});
