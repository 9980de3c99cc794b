#!/usr/bin/env bash
# The main job on a built-in default: bundle /bin/bash and the tr its test pipes into, test them
# in a jail holding only the bundle (and a static busybox harness out of sight), and show what was
# collected and why. The jail is the FROM scratch image: a program the bundle lacks is not there.
set -euo pipefail
cd "$(dirname "$0")/.."
log="$(mktemp)"
bash test/fixtures/provision.sh >"$log" 2>&1 || { cat "$log"; rm -f "$log"; echo "demo: provisioning the static busybox failed (see above)"; exit 1; }
rm -f "$log"
. "${MAGICPAK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/magicpak-test}/env.sh"
out="$(mktemp -d)/bash-bundle"
node bin/magicpak.js /bin/bash /usr/bin/tr "$out" -v --busybox "$MAGICPAK_BUSYBOX" \
  --test --test-command "bash -c 'echo hello from a FROM scratch image | tr a-z A-Z'" \
  --test-stdout "HELLO FROM A FROM SCRATCH IMAGE"
echo
echo "What /bin/bash loads, and why:"
node bin/magicpak.js --tree /bin/bash
echo
echo "The bundle, ready for: FROM scratch / COPY bundle /"
(cd "$out" && find . -mindepth 1 | sort | while read -r p; do
  if [ -L "$p" ]; then echo "  $p -> $(readlink "$p")"
  elif [ -d "$p" ]; then echo "  $p/"
  else echo "  $p ($(stat -c %s "$p") bytes)"; fi
done)
echo "  total: $(du -sh "$out" | cut -f1) in $out"
