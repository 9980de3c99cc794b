// Package records for scanners, for what the bundle finally holds: the root's dpkg status stanzas
// of the packages its files come from (lib/provenance/records.ts); --exclude applies to them too.

import { openPackageDatabase } from "../../provenance/dpkg.js";
import { addPackageRecords } from "../../provenance/records.js";
import type { Plan } from "../plan.js";
import { excludeQuietly } from "./exclude.js";

export function records(plan: Plan): void {
  const packages = openPackageDatabase(plan.root);
  plan.packages = packages;
  if (!packages) {
    plan.log("Info", "the root has no dpkg database (/var/lib/dpkg/status): no package records");
    return;
  }
  if (plan.options.packageRecords === false) return;
  addPackageRecords(plan.graph, plan.root, packages, plan.log);
  // They are made from what --exclude left, and it applies to them as well.
  excludeQuietly(plan);
}
