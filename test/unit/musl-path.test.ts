// parseMuslPath: musl's path_open splitting (ldso/dynlink.c), shared by the path file,
// LD_LIBRARY_PATH and RPATH/RUNPATH.

import t from "tap";
import { parseMuslPath } from "../../lib/index.js";

t.test("elements split on ':' and newline, empty ones skipped", async (t) => {
  t.same(parseMuslPath(""), []);
  t.same(parseMuslPath("/lib:/usr/local/lib:/usr/lib"), ["/lib", "/usr/local/lib", "/usr/lib"]);
  t.same(parseMuslPath("/lib\n/usr/lib\n"), ["/lib", "/usr/lib"], "one directory a line, as Alpine writes the file");
  t.same(parseMuslPath("::/a:\n\n:/b::"), ["/a", "/b"]);
  t.same(parseMuslPath(" /a : /b\t"), [" /a ", " /b\t"], "no whitespace trimming: blanks are part of the name");
  t.same(parseMuslPath("relative:./x"), ["relative", "./x"]);
  t.same(parseMuslPath("/a;/b"), ["/a;/b"], "';' is not a separator for musl");
});
