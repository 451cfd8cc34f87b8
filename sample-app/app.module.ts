import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  ReliableImportsAdminModule,
  ReliableImportsExceptionFilter,
  ReliableImportsModule,
} from 'nestjs-reliable-imports';
import { LoopbackOnlyGuard } from './admin/loopback-only.guard';
import { Customer } from './customers/customer.entity';
import { CustomerDataProcessor } from './customers/customer-data.processor';
import { ImportErrorsFilter } from './customers/import-errors.filter';
import { ImportsController } from './customers/imports.controller';
import { databaseOptions, type DatabaseSettings } from './database';

@Module({})
export class AppModule {
  /** The app on `DATABASE_URL`, or on an embedded PGlite database when it is not set. */
  static forDatabase(
    databaseUrl = process.env.DATABASE_URL,
    settings: DatabaseSettings = {},
  ): DynamicModule {
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRoot(databaseOptions(databaseUrl, settings)),
        TypeOrmModule.forFeature([Customer]),
        ReliableImportsModule.forRoot({ continueOnError: true }),
        // The operators' page and API at /admin/ (see the README's "Admin UI").
        ReliableImportsAdminModule.register({ path: 'admin', guards: [LoopbackOnlyGuard] }),
      ],
      controllers: [ImportsController],
      providers: [
        CustomerDataProcessor,
        { provide: APP_FILTER, useClass: ReliableImportsExceptionFilter },
        { provide: APP_FILTER, useClass: ImportErrorsFilter },
      ],
    };
  }
}
