const VALID_BATCH_TYPE = /^[A-Za-z0-9_.:-]{1,100}$/;

/**
 * The batch type a processor class handles by convention: the class name without its `Processor`
 * suffix, in snake_case. `CustomerDataProcessor` → `customer_data`, `CSVFeedProcessor` → `csv_feed`.
 * Returns null when nothing is left of the name.
 */
export function batchTypeFromClassName(className: string): string | null {
  const base = className.replace(/Processor$/, '');
  const snake = base
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
  return snake.length > 0 ? snake : null;
}

/** Whether a string may be used as a batch type. */
export function isValidBatchType(batchType: string): boolean {
  return VALID_BATCH_TYPE.test(batchType);
}
