import { ConfigurableModuleBuilder } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { InvalidOptionsError } from './errors/invalid-options.error';
import { messages } from './reliable-imports.messages';
import { RELIABLE_IMPORTS_DATA_SOURCE } from './reliable-imports.constants';
import type {
  ReliableImportsModuleExtras,
  ReliableImportsModuleOptions,
} from './interfaces/reliable-imports-options.interface';

/**
 * `forRoot`/`forRootAsync` are generated. The data source and `isGlobal` are extras read from the
 * argument itself, because they decide how the module is wired, before any factory could run.
 */
export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: RAW_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ReliableImportsModuleOptions>({ moduleName: 'ReliableImports' })
  .setClassMethodName('forRoot')
  .setExtras<ReliableImportsModuleExtras>(
    { isGlobal: false, dataSource: undefined },
    (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
      providers: [
        ...(definition.providers ?? []),
        {
          provide: RELIABLE_IMPORTS_DATA_SOURCE,
          // Optional, so that a missing data source is reported in the module's words, with the fix.
          useFactory: (dataSource: DataSource | undefined) => {
            if (!dataSource) {
              throw new InvalidOptionsError([messages.dataSourceNotFound(extras.dataSource)]);
            }
            return dataSource;
          },
          inject: [{ token: getDataSourceToken(extras.dataSource), optional: true }],
        },
      ],
    }),
  )
  .build();
