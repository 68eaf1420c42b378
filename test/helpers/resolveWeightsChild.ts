/**
 * Fetches the weights into a cache in a process of its own, as a first `pastiche` run does:
 *   node --import tsx resolveWeightsChild.ts '<catalogue entry as JSON>' <cache dir>
 * Prints the result; on failure prints the error and exits as the CLI does (2 for a PasticheError).
 */
import { isPasticheError } from "../../src/errors.js";
import { resolveWeights } from "../../src/weights/WeightStore.js";

const [entry, cacheDir] = process.argv.slice(2);
try {
  console.log(JSON.stringify(await resolveWeights({ entry: JSON.parse(entry), cacheDir })));
} catch (e) {
  if (isPasticheError(e)) {
    console.error(JSON.stringify({ code: e.code, message: e.message }));
    process.exitCode = 2;
  } else {
    console.error(e instanceof Error ? e.stack : String(e));
    process.exitCode = 1;
  }
}
