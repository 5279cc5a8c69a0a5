// Polls a condition instead of sleeping a fixed time: the machine is shared,
// so how long something takes varies; only the upper bound is fixed.
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
  explain: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${timeoutMs} ms\n${explain()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
