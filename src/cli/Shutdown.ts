/**
 * Long-running commands (`serve`, `worker`) run until SIGINT or SIGTERM, then close gracefully;
 * a second signal while closing exits at once.
 */
export async function runUntilSignal(stopping: (signal: NodeJS.Signals) => string, close: () => Promise<void>): Promise<void> {
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const stop = (received: NodeJS.Signals) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(received);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  console.log(`\n${stopping(signal)} (press Ctrl+C again to quit at once)`);
  const quit = (again: NodeJS.Signals) => process.exit(again === "SIGINT" ? 130 : 143);
  process.once("SIGINT", quit);
  process.once("SIGTERM", quit);
  try {
    await close();
  } finally {
    process.off("SIGINT", quit);
    process.off("SIGTERM", quit);
  }
}
