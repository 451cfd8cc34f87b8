import type { ErrorBudget } from './interfaces/batch-options.interface';
import { Injectable } from '@nestjs/common';
import type { RetentionPolicy } from './interfaces/retention.interface';
import type { ScrubPolicy } from './interfaces/scrubbing.interface';
import type { BaseProcessor } from './base-processor';
import { DuplicateBatchTypeError } from './errors/duplicate-batch-type.error';
import { UnknownBatchTypeError } from './errors/unknown-batch-type.error';

/** A discovered processor and what it was declared with. */
export interface RegisteredProcessor {
  batchType: string;
  className: string;
  instance: BaseProcessor<object, object | void>;
  continueOnError?: boolean;
  itemTimeoutMs?: number;
  requireApproval?: boolean;
  /** The processor's error budget (`@ImportProcessor({ maxFailures, ... })`). */
  budget: ErrorBudget;
  /** The processor's retention (`@ImportProcessor({ retention })`), over the module's. */
  retention?: RetentionPolicy;
  /** The processor's scrubbing of personal data (`@ImportProcessor({ scrub })`). */
  scrub?: ScrubPolicy;
}

/** The one place that maps batch types to processors. */
@Injectable()
export class ImportProcessorRegistry {
  private readonly processors = new Map<string, RegisteredProcessor>();

  register(processor: RegisteredProcessor): void {
    const existing = this.processors.get(processor.batchType);
    if (existing) {
      throw new DuplicateBatchTypeError(processor.batchType, [
        existing.className,
        processor.className,
      ]);
    }
    this.processors.set(processor.batchType, processor);
  }

  /** The processor of a batch type; throws `UnknownBatchTypeError` listing the known types. */
  get(batchType: string): RegisteredProcessor {
    const processor = this.processors.get(batchType);
    if (!processor) throw new UnknownBatchTypeError(batchType, this.knownTypes());
    return processor;
  }

  /** Every registered processor, by batch type. */
  all(): RegisteredProcessor[] {
    return [...this.processors.values()].sort((a, b) => (a.batchType < b.batchType ? -1 : 1));
  }

  knownTypes(): string[] {
    return [...this.processors.keys()].sort();
  }
}
