import { Body, Controller, Get, HttpCode, Param, Patch, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { BatchService } from 'nestjs-reliable-imports';
import type { CustomerRow } from './customer-data.processor';
import { parseCustomersCsv } from './read-customers-csv';

/**
 * The import API of the sample app. Upload with
 * `curl -X POST --data-binary @customers.csv -H 'Content-Type: text/csv' localhost:3000/imports/customers`.
 */
@Controller('imports')
export class ImportsController {
  constructor(private readonly batches: BatchService) {}

  /** Streams the CSV body into a batch, processes it, and answers with the summary. */
  @Post('customers')
  async importCustomers(@Req() request: Request) {
    const name = request.header('x-file-name') ?? 'upload.csv';
    return this.batches.import('customer_data', parseCustomersCsv(request), {
      sourceInfo: { file: name, uploadedAt: new Date().toISOString() },
    });
  }

  @Get(':batchId')
  summary(@Param('batchId') batchId: string) {
    return this.batches.getBatchSummary(batchId);
  }

  /** The failed items with their reasons and CSV line numbers (the header is line 1). */
  @Get(':batchId/failures')
  async failures(@Param('batchId') batchId: string) {
    const items = await this.batches.getItems<CustomerRow>(batchId, {
      status: 'failed',
      limit: 10_000,
    });
    return items.map((item) => ({
      itemId: item.id,
      line: item.itemIndex + 2,
      reasons: item.errorMessage?.split('; ') ?? [],
      row: item.correctedData ?? item.sourceData,
      corrected: item.correctedData !== null,
    }));
  }

  @Patch('items/:itemId')
  correct(@Param('itemId') itemId: string, @Body() row: CustomerRow) {
    return this.batches.correctItem(itemId, row);
  }

  @Post(':batchId/reprocess')
  @HttpCode(200)
  reprocess(@Param('batchId') batchId: string) {
    return this.batches.reprocessBatch(batchId, { failedItemsOnly: true });
  }
}
