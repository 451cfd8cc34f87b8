import { Injectable, type Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { IMPORT_PROCESSOR_METADATA } from './reliable-imports.constants';
import type { ImportProcessorOptions } from './interfaces/processor.interface';

/** The one class that knows where `@ImportProcessor()` keeps its metadata. */
@Injectable()
export class ImportProcessorMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  /** The decorator's options, or undefined for a class that is not a processor. */
  getProcessorOptions(target: Type<unknown>): ImportProcessorOptions | undefined {
    return this.reflector.get<ImportProcessorOptions | undefined>(
      IMPORT_PROCESSOR_METADATA,
      target,
    );
  }
}
