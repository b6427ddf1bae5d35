/**
 * Runs `setupCells()` and prints what it did. Root only. Used by scripts/ci-cells-setup.sh until the
 * CLI grows `missionbus cell setup`. Exits 1 when a level that the host has the tools for is unavailable.
 */
import { setupCells } from '../src/cells/index.js';

const report = await setupCells();
for (const line of report.did) console.log(`did: ${line}`);
for (const { tool, install } of report.missing) console.log(`missing: ${tool} (${install})`);
let failed = false;
for (const level of report.levels) {
  console.log(`level ${level.level} ${level.name}: ${level.available ? 'available' : `UNAVAILABLE — ${level.reason}; fix: ${level.fix}`}`);
  for (const note of level.notes ?? []) console.log(`  note: ${note}`);
  if (!level.available) failed = true;
}
process.exit(failed ? 1 : 0);
