import { Injectable, Logger, type OnModuleInit, type Type } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { BaseProcessor } from './base-processor';
import { InvalidProcessorError } from './errors/invalid-processor.error';
import { ImportProcessorMetadataAccessor } from './import-processor-metadata.accessor';
import { ImportProcessorRegistry } from './import-processor.registry';
import { messages } from './reliable-imports.messages';
import { batchTypeFromClassName, isValidBatchType } from './utils/batch-type-name.util';
import { processorOptionProblems } from './utils/resolve-options.util';

/**
 * Finds the `@ImportProcessor()` providers at bootstrap and registers them. A misdeclared processor fails
 * the bootstrap: a processor skipped with a warning would be an import silently lost.
 */
@Injectable()
export class ImportProcessorExplorer implements OnModuleInit {
  private readonly logger = new Logger('ReliableImports');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly accessor: ImportProcessorMetadataAccessor,
    private readonly registry: ImportProcessorRegistry,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      // A useExisting alias resolves to the processor it names, which is registered from its own provider.
      if (wrapper.isAlias) continue;
      // A useFactory/useValue provider has no metatype of its own: its instance's class is the processor.
      const instance: unknown = wrapper.instance;
      const metatype =
        !wrapper.metatype || wrapper.inject
          ? (instance as { constructor?: Type<unknown> } | null | undefined)?.constructor
          : (wrapper.metatype as Type<unknown>);
      if (typeof metatype !== 'function') continue;
      const options = this.accessor.getProcessorOptions(metatype);
      if (options === undefined) continue;

      const className = metatype.name;
      if (!wrapper.isDependencyTreeStatic()) throw InvalidProcessorError.requestScoped(className);
      if (!(instance instanceof BaseProcessor))
        throw InvalidProcessorError.notABaseProcessor(className);

      const problems = processorOptionProblems(options);
      if (problems.length > 0) throw InvalidProcessorError.invalidOptions(className, problems);

      const batchType = options.batchType ?? batchTypeFromClassName(className);
      if (batchType === null) throw InvalidProcessorError.withoutBatchType(className);
      if (!isValidBatchType(batchType))
        throw InvalidProcessorError.invalidBatchType(batchType, className);

      this.registry.register({
        batchType,
        className,
        instance: instance as BaseProcessor<object, object | void>,
        continueOnError: options.continueOnError,
        itemTimeoutMs: options.itemTimeoutMs,
        requireApproval: options.requireApproval,
        budget: {
          maxFailures: options.maxFailures,
          maxFailureRate: options.maxFailureRate,
          failureRateMinItems: options.failureRateMinItems,
        },
        retention: options.retention,
        scrub: options.scrub,
      });
    }
    const registered = this.registry.all();
    // Without a processor every createBatch fails: the start says so, where a missing provider is noticed.
    if (registered.length === 0) this.logger.warn(messages.noProcessorRegistered());
    else this.logger.log(messages.processorsRegistered(registered));
  }
}
