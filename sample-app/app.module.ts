import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ReliableImportsModule } from 'nestjs-reliable-imports';
import { Customer } from './customers/customer.entity';
import { CustomerDataProcessor } from './customers/customer-data.processor';
import { databaseOptions } from './database';

@Module({
  imports: [
    TypeOrmModule.forRoot(databaseOptions()),
    TypeOrmModule.forFeature([Customer]),
    ReliableImportsModule.forRoot({ continueOnError: true }),
  ],
  providers: [CustomerDataProcessor],
})
export class AppModule {}
