import { Injectable, type Type } from '@nestjs/common';
import { IMPORT_PROCESSOR_METADATA } from './reliable-imports.constants';
import type { ImportProcessorOptions } from './interfaces/processor.interface';

/** The one class that knows where `@ImportProcessor()` keeps its metadata. */
@Injectable()
export class ImportProcessorMetadataAccessor {
  /**
   * The decorator's options, or undefined for a class that is not a processor. Only the class's own
   * decorator counts: a subclass of a processor is a processor only when it is marked itself, otherwise
   * both would claim the parent's batch type.
   */
  getProcessorOptions(target: Type<unknown>): ImportProcessorOptions | undefined {
    return Reflect.getOwnMetadata(IMPORT_PROCESSOR_METADATA, target) as
      ImportProcessorOptions | undefined;
  }
}
