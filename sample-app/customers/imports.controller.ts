import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  Logger,
  Param,
  Patch,
  Post,
  Req,
} from '@nestjs/common';
import type { Request } from 'express';
import { BatchService } from 'nestjs-reliable-imports';
import type { CustomerRow } from './customer-data.processor';
import { assertCsvContentType, requireRows } from './csv-upload';
import { type ImportItemResponse, toItemResponse } from './import-item.response';
import { parseCustomersCsv } from './read-customers-csv';

/**
 * The import API of the sample app. Upload with
 * `curl -X POST --data-binary @customers.csv -H 'Content-Type: text/csv' localhost:3000/imports/customers`.
 */
@Controller('imports')
export class ImportsController {
  private readonly logger = new Logger(ImportsController.name);

  constructor(private readonly batches: BatchService) {}

  /**
   * Streams the CSV body into a batch, processes it, and answers with the summary. A body that is not
   * `text/csv` gets 415, a CSV without rows 400; an upload dropped half way is rolled back.
   */
  @Post('customers')
  async importCustomers(@Req() request: Request) {
    assertCsvContentType(request.header('content-type'));
    const name = request.header('x-file-name') ?? 'upload.csv';
    try {
      const rows = await requireRows(parseCustomersCsv(request));
      return await this.batches.import('customer_data', rows, {
        sourceInfo: { file: name, uploadedAt: new Date().toISOString() },
      });
    } catch (error) {
      if (request.complete || !request.destroyed) throw error;
      // The client went away: nobody reads the answer, and a dropped upload is no server error.
      this.logger.warn(`Upload of "${name}" broken off by the client; nothing was stored.`);
      throw new BadRequestException('The upload broke off before its end. Nothing was stored.');
    }
  }

  @Get(':batchId')
  summary(@Param('batchId') batchId: string) {
    return this.batches.getBatchSummary(batchId);
  }

  /** The failed items with their reasons and CSV line numbers (the header is line 1). */
  @Get(':batchId/failures')
  async failures(@Param('batchId') batchId: string): Promise<ImportItemResponse[]> {
    const items = await this.batches.getItems<CustomerRow>(batchId, {
      status: 'failed',
      limit: 10_000,
    });
    return items.map(toItemResponse);
  }

  @Patch('items/:itemId')
  async correct(
    @Param('itemId') itemId: string,
    @Body() row: CustomerRow,
  ): Promise<ImportItemResponse> {
    return toItemResponse(await this.batches.correctItem(itemId, row));
  }

  @Post(':batchId/reprocess')
  @HttpCode(200)
  reprocess(@Param('batchId') batchId: string) {
    return this.batches.reprocessBatch(batchId, { failedItemsOnly: true });
  }
}
