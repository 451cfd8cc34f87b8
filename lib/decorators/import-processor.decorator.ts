import { SetMetadata } from '@nestjs/common';
import { IMPORT_PROCESSOR_METADATA } from '../reliable-imports.constants';
import type { ImportProcessorOptions } from '../interfaces/processor.interface';

/**
 * Marks a provider as the processor of one batch type. The class must extend `BaseProcessor` and be
 * listed in a module's `providers`; it is found at bootstrap.
 *
 * - `@ImportProcessor()`: the batch type comes from the class name (`CustomerDataProcessor` → `customer_data`);
 * - `@ImportProcessor('customers')`: an explicit batch type;
 * - `@ImportProcessor({ batchType, continueOnError, itemTimeoutMs, requireApproval, retention, ... })`:
 *   options (`retention`: how long its ended batches and logs are kept, over the module's).
 */
export function ImportProcessor(
  batchTypeOrOptions?: string | ImportProcessorOptions,
): ClassDecorator {
  const options: ImportProcessorOptions =
    typeof batchTypeOrOptions === 'string'
      ? { batchType: batchTypeOrOptions }
      : (batchTypeOrOptions ?? {});
  return SetMetadata(IMPORT_PROCESSOR_METADATA, options);
}
