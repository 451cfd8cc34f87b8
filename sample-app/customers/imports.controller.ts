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
  Query,
  Req,
  StreamableFile,
} from '@nestjs/common';
import type { Request } from 'express';
import { Readable } from 'node:stream';
import { BatchService, readCorrections, readCsv } from 'nestjs-reliable-imports';
import type { CustomerRow } from './customer-data.processor';
import { assertCsvContentType, readWholeBody, requireRows } from './csv-upload';
import { type FailedRowResponse, toFailedRowResponse } from './failed-row.response';
import { type ImportItemResponse, toItemResponse } from './import-item.response';

/**
 * The import API of the sample app. Upload with
 * `curl -X POST --data-binary @customers.csv -H 'Content-Type: text/csv' localhost:3000/imports/customers`;
 * download the failures with `curl -o fix.csv localhost:3000/imports/<id>/failures.csv`, fix them in a
 * spreadsheet, and send the file back with
 * `curl -X POST --data-binary @fix.csv -H 'Content-Type: text/csv' localhost:3000/imports/<id>/reprocess`.
 */
@Controller('imports')
export class ImportsController {
  private readonly logger = new Logger(ImportsController.name);

  constructor(private readonly batches: BatchService) {}

  /**
   * Streams the CSV body into a batch, processes it, and answers with the summary. A body that is not
   * `text/csv` gets 415, a CSV without rows 400; an upload dropped half way is rolled back. A line that
   * cannot be read becomes a failed row with its line and text, to correct like the others.
   */
  @Post('customers')
  async importCustomers(@Req() request: Request) {
    assertCsvContentType(request.header('content-type'));
    const name = request.header('x-file-name') ?? 'upload.csv';
    try {
      const rows = await requireRows(readCsv(request));
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

  /** Where every row of the import stands, across its reprocesses: resolved, unresolved, per batch. */
  @Get(':batchId/lineage')
  lineage(@Param('batchId') batchId: string) {
    return this.batches.getLineage(batchId);
  }

  /** The rows that still need a fix, with their reasons and CSV line numbers (the header is line 1). */
  @Get(':batchId/failures')
  async failures(@Param('batchId') batchId: string): Promise<FailedRowResponse[]> {
    const rows = await this.batches.getFailures<CustomerRow>(batchId, { limit: 10_000 });
    return rows.map(toFailedRowResponse);
  }

  /** The rows that still need a fix as a file to edit in a spreadsheet (or `?format=jsonl`). */
  @Get(':batchId/failures.csv')
  async failuresFile(
    @Param('batchId') batchId: string,
    @Query('format') format: 'csv' | 'jsonl' = 'csv',
  ): Promise<StreamableFile> {
    const stream = await this.batches.exportFailures(batchId, { format });
    return new StreamableFile(stream, {
      type: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
      disposition: `attachment; filename="failures-${batchId}.${format}"`,
    });
  }

  @Patch('items/:itemId')
  async correct(
    @Param('itemId') itemId: string,
    @Body() row: CustomerRow,
  ): Promise<ImportItemResponse> {
    return toItemResponse(await this.batches.correctItem(itemId, row, { mode: 'merge' }));
  }

  /**
   * Stores the corrections of an edited failures file (the CSV from `failures.csv`), all or nothing: a
   * file with a wrong line is refused whole with 400 and every problem by line.
   */
  @Post(':batchId/corrections')
  @HttpCode(200)
  async corrections(@Param('batchId') batchId: string, @Req() request: Request) {
    assertCsvContentType(request.header('content-type'));
    const file = await readWholeBody(request);
    return this.batches.correctItems(
      batchId,
      readCorrections(Readable.from([file]), { format: 'csv' }),
    );
  }

  /**
   * Reprocesses the rows that did not complete. With an edited failures file as the body
   * (`Content-Type: text/csv`), its corrections are applied first, in the same step; a body of another
   * type gets 415, so that a file sent the wrong way is never silently left out.
   */
  @Post(':batchId/reprocess')
  @HttpCode(200)
  async reprocess(@Param('batchId') batchId: string, @Req() request: Request) {
    // A body of any other type would have been read by Nest's parsers already: refused, never ignored.
    const type = request.header('content-type');
    if (type !== undefined) assertCsvContentType(type);
    const file = type !== undefined ? await readWholeBody(request) : null;
    return this.batches.reprocessBatch(batchId, {
      failedItemsOnly: true,
      ...(file ? { corrections: readCorrections(Readable.from([file]), { format: 'csv' }) } : {}),
    });
  }
}
