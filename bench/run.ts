/**
 * `npm run bench`: every benchmark, each reporting ratios against a baseline measured in the same run.
 * `npm run bench -- append` runs only the named sections.
 */
import { benchAppend } from './append.js';
import { benchTransport } from './transport.js';
import { benchPostgres } from './postgres.js';
import { benchCells } from './cells.js';
import { benchPodmanOptions } from './cells-podman-options.js';
import { benchLoad } from './load.js';
import type { Report } from './lib.js';

const sections: Record<string, (report: Report) => Promise<void>> = {
  append: benchAppend,
  transport: benchTransport,
  postgres: benchPostgres,
  cells: benchCells,
  'cells-podman': benchPodmanOptions,
  load: benchLoad,
};

const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const unknown = wanted.filter((name) => !(name in sections));
if (unknown.length > 0) {
  console.error(`unknown bench section(s): ${unknown.join(', ')}; known: ${Object.keys(sections).join(', ')}`);
  process.exit(2);
}
/** Diagnostics that run only when named. */
const onlyWhenNamed = new Set(['cells-podman']);

for (const [name, run] of Object.entries(sections)) {
  if (wanted.length > 0 ? !wanted.includes(name) : onlyWhenNamed.has(name)) continue;
  console.log(`## ${name}`);
  await run((line) => console.log(`- ${line}`));
}
