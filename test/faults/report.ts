// Prints the fault table of the last fault-suite run: `node --import tsx test/faults/report.ts`.
import { REPORT_FILE, loadRuns, table } from './support.js';

const runs = loadRuns();
console.log(runs.length ? table(runs) : `no fault runs recorded in ${REPORT_FILE} (run: node scripts/run-tests.mjs kernel test/faults)`);
