import { main } from "./main.js";

// exitCode rather than process.exit() so that pending writes to stderr are flushed first.
process.exitCode = await main(process.argv);
