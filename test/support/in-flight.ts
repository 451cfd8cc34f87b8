import type { BaseProcessor } from '../../lib';

/**
 * Wraps a processor's `processItem` to count how many items were in flight at once, and returns a
 * function that restores it and gives the highest count seen.
 */
export function trackInFlight<TSource extends object>(
  processor: BaseProcessor<TSource, object | void>,
): () => number {
  const original = processor.processItem.bind(processor);
  let inFlight = 0;
  let most = 0;
  processor.processItem = async (item, ctx) => {
    most = Math.max(most, ++inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, 2));
      return await original(item, ctx);
    } finally {
      inFlight--;
    }
  };
  return () => {
    processor.processItem = original;
    return most;
  };
}
