import {
  BadRequestException,
  Body,
  Get,
  HttpCode,
  Inject,
  Logger,
  type MessageEvent,
  type OnModuleInit,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Query,
  Sse,
  Req,
  Res,
  StreamableFile,
  UseInterceptors,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { catchError, from, map, type Observable, of } from 'rxjs';
import { BatchService } from '../batch.service';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { readCorrections } from '../readers/read-corrections';
import { readCsv } from '../readers/read-csv';
import { readJsonl } from '../readers/read-jsonl';
import { messages } from '../reliable-imports.messages';
import { ADMIN_OPTIONS } from './admin.constants';
import { batchListStream, batchPageStream, STREAM_INTERVAL_MS } from './admin-streams';
import { BackgroundRuns } from './background-runs';
import { BatchEventStreams } from './batch-event-streams';
import { ReasonBody, ReprocessBody, ResumeBody } from './dto/control.body';
import { CreateBatchQuery } from './dto/create-batch.query';
import { CorrectionsBody, CorrectionsFileQuery, CorrectItemBody } from './dto/corrections.body';
import { readUpload, uploadFormat } from './corrections-upload';
import { ExportQuery, FailuresQuery } from './dto/failures.query';
import { ItemsQuery } from './dto/items.query';
import { ListBatchesQuery } from './dto/list-batches.query';
import { LogsQuery } from './dto/logs.query';
import type { ResolvedAdminOptions } from './reliable-imports-admin-options.interface';
import { KeepSentBody, SentBody } from './sent-body';
import { streamFailure } from './stream-failure';
import { itemWithoutStack, logWithoutStack } from './without-stacks';

/** A path parameter that must be a UUID; a 400 naming it otherwise (never a database error). */
const UuidParam = (name: string) =>
  Param(
    name,
    new ParseUUIDPipe({
      exceptionFactory: () =>
        new BadRequestException({
          statusCode: 400,
          error: 'Bad Request',
          message: [messages.adminBadId(name)],
        }),
    }),
  );

/**
 * A row's data in the body as sent. An interface, not the DTO class: a pipe of the app that validates
 * custom decorators' values would otherwise validate, and strip, this copy too.
 */
interface SentData {
  data: Record<string, unknown>;
}

/** A request as Express gives it (a stream of the body), or Fastify (its `raw`). */
interface UploadRequest extends AsyncIterable<Buffer> {
  headers: Record<string, string | undefined>;
  raw?: AsyncIterable<Buffer>;
}

/** A response whose status a route sets itself (Express's and Fastify's both have `status`). */
interface StatusResponse {
  status(code: number): unknown;
}

/** The longest file name kept from `x-file-name`, in characters. */
const FILE_NAME_LIMIT = 200;

/**
 * The admin routes. Each only calls `BatchService`. The controller mounted is a subclass made per
 * registration (`createAdminController`), which carries the path, the guards, the filter and the pipe.
 */
export abstract class ReliableImportsAdminRoutes implements OnModuleInit {
  private service?: BatchService;

  constructor(
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(ADMIN_OPTIONS) private readonly options: ResolvedAdminOptions,
    @Inject(BackgroundRuns) private readonly runs: BackgroundRuns,
    @Inject(BatchEventStreams) private readonly eventStreams: BatchEventStreams,
  ) {}

  onModuleInit(): void {
    // Looked up in the whole app: ReliableImportsModule need not be global, and is registered by the app.
    try {
      this.service = this.moduleRef.get(BatchService, { strict: false });
    } catch {
      throw new InvalidOptionsError([messages.adminNoBatchService()]);
    }
    if (this.options.guards.length === 0) {
      new Logger('ReliableImportsAdmin').warn(messages.adminUnauthenticated(this.options.path));
    }
  }

  private get batches(): BatchService {
    return this.service as BatchService;
  }

  /** The batch types of the registered processors, for a form that creates a batch. */
  @Get('batch-types')
  getBatchTypes() {
    return this.batches.getBatchTypes().map((batchType) => ({ batchType }));
  }

  @Get('batches')
  listBatches(@Query() query: ListBatchesQuery) {
    return this.batches.listBatches(query);
  }

  /**
   * The list as `GET batches` gives it (same filters), with the progress of each batch that may still
   * run, as Server-Sent Events (`batches`): at once, then whenever it changes (read every second), until
   * the client goes away. Declared before `batches/:id`, which would take "stream" for an id.
   */
  @Sse('batches/stream')
  streamBatches(@Query() query: ListBatchesQuery): Observable<MessageEvent> {
    return batchListStream(this.batches, query);
  }

  /**
   * Stores the file in the body (`text/csv`, or `application/x-ndjson` JSON lines) as a batch of
   * `batchType` and answers 202 with it once every row is stored; its run goes on in the background
   * (follow it with `GET batches/:id/stream`). A batch that needs approval waits for it.
   */
  @Post('batches')
  @HttpCode(202)
  async createBatch(@Query() query: CreateBatchQuery, @Req() request: UploadRequest) {
    const format = uploadFormat(request.headers['content-type'], messages.adminImportType);
    const body = request.raw ?? request;
    const file = request.headers['x-file-name']?.slice(0, FILE_NAME_LIMIT);
    const batch = await this.batches.createBatch(
      query.batchType,
      format === 'csv' ? readCsv(body) : readJsonl(body),
      { sourceInfo: { ...(file ? { file } : {}), uploadedAt: new Date().toISOString() } },
    );
    this.runs.start(batch.id, () => this.batches.processBatch(batch.id));
    return batch;
  }

  /** The batch, its counts and its tree (root and reprocesses). */
  @Get('batches/:id')
  async getBatch(@UuidParam('id') id: string) {
    // Stamped as the batch page's stream readings are (`BatchPageState.readAt`), for a page that has both.
    const readAt = new Date().toISOString();
    const batch = await this.batches.getBatch(id);
    const [summary, lineage] = await Promise.all([
      this.batches.getBatchSummary(id),
      this.batches.getLineage(id),
    ]);
    return { readAt, batch, summary, lineage };
  }

  @Get('batches/:id/items')
  async getItems(@UuidParam('id') id: string, @Query() query: ItemsQuery) {
    return (await this.batches.getItems(id, query)).map(itemWithoutStack);
  }

  @Get('batches/:id/failures')
  getFailures(@UuidParam('id') id: string, @Query() query: FailuresQuery) {
    return this.batches.getFailures(id, query);
  }

  @Get('batches/:id/failures/export')
  async exportFailures(@UuidParam('id') id: string, @Query() query: ExportQuery) {
    const format = query.format ?? 'csv';
    const file = await this.batches.exportFailures(id, { format });
    return new StreamableFile(file, {
      type: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      disposition: `attachment; filename="failures-${id}.${format}"`,
    });
  }

  @Get('batches/:id/logs')
  async getLogs(@UuidParam('id') id: string, @Query() query: LogsQuery) {
    return (await this.batches.getLogs(id, query)).map(logWithoutStack);
  }

  /**
   * What a batch page shows, as Server-Sent Events (`batch`): the batch, its tree's lineage and the
   * progress of the tree's batches that may still run, at once and then whenever it changes (read every
   * second), until the client goes away. A batch that does not exist is answered 404 first.
   */
  @Sse('batches/:id/stream')
  async streamBatch(@UuidParam('id') id: string): Promise<Observable<MessageEvent>> {
    await this.batches.getBatch(id);
    return batchPageStream(this.batches, id);
  }

  @Get('batches/:id/progress')
  getProgress(@UuidParam('id') id: string) {
    return this.batches.getProgress(id);
  }

  /**
   * The progress every second as Server-Sent Events (`progress`), until the batch has ended (its last
   * reading is the last event). A batch that does not exist is answered 404 before the stream starts; a
   * reading that fails later ends the stream with a `failure` event, whose data is an error body.
   */
  @Sse('batches/:id/progress/stream')
  async streamProgress(@UuidParam('id') id: string): Promise<Observable<MessageEvent>> {
    await this.batches.getBatch(id);
    return from(this.batches.watchBatch(id, { intervalMs: STREAM_INTERVAL_MS })).pipe(
      map((progress): MessageEvent => ({ type: 'progress', data: progress })),
      catchError((error: unknown) =>
        of<MessageEvent>({ type: 'failure', data: streamFailure(error) }),
      ),
    );
  }

  /**
   * The module's events of the batch (`RELIABLE_IMPORTS_EVENTS`) as Server-Sent Events, each of the type
   * of its name, from this instance and the others: from when the answer begins until the event of the
   * batch's end (a batch that has ended gets an empty stream), or until the client goes away. A batch that
   * does not exist is answered 404 first.
   */
  @Sse('batches/:id/events/stream')
  streamEvents(@UuidParam('id') id: string): Promise<Observable<MessageEvent>> {
    return this.eventStreams.open(id);
  }

  @Patch('items/:itemId')
  @UseInterceptors(KeepSentBody)
  correctItem(
    @UuidParam('itemId') itemId: string,
    @Body() body: CorrectItemBody,
    @SentBody() sent: SentData,
  ) {
    return this.batches.correctItem(itemId, sent.data, { mode: body.mode });
  }

  @Post('batches/:id/corrections')
  @HttpCode(200)
  @UseInterceptors(KeepSentBody)
  correctItems(
    @UuidParam('id') id: string,
    @Body() body: CorrectionsBody,
    @SentBody() sent: { corrections: SentData[] },
  ) {
    const corrections = body.corrections.map(({ itemId, line }, index) => ({
      itemId,
      line,
      data: sent.corrections[index].data,
    }));
    return this.batches.correctItems(id, corrections, { mode: body.mode });
  }

  /**
   * Applies an edited failures export (`text/csv`) or a JSON lines file (`application/x-ndjson`), sent as
   * the body, all or nothing, like `POST /batches/:id/corrections`.
   */
  @Post('batches/:id/corrections/file')
  @HttpCode(200)
  async correctFromFile(
    @UuidParam('id') id: string,
    @Query() query: CorrectionsFileQuery,
    @Req() request: UploadRequest,
  ) {
    const format = uploadFormat(request.headers['content-type']);
    const file = await readUpload(request.raw ?? request);
    return this.batches.correctItems(id, readCorrections(file, { format }), { mode: query.mode });
  }

  /**
   * Resolves when the child batch's run has ended, with its summary (201); with `wait: false`, as soon as
   * the child batch is stored, with it (202), its run going on in the background.
   */
  @Post('batches/:id/reprocess')
  async reprocess(
    @UuidParam('id') id: string,
    @Body() body: ReprocessBody,
    @Res({ passthrough: true }) response: StatusResponse,
  ) {
    if (body.wait !== false) {
      return this.batches.reprocessBatch(id, { failedItemsOnly: body.failedItemsOnly });
    }
    const child = await this.batches.createReprocessBatch(id, {
      failedItemsOnly: body.failedItemsOnly,
    });
    this.runs.start(child.id, () => this.batches.processBatch(child.id));
    response.status(202);
    return child;
  }

  @Post('batches/:id/pause')
  @HttpCode(200)
  pause(@UuidParam('id') id: string, @Body() body: ReasonBody) {
    return this.batches.pauseBatch(id, { reason: body.reason });
  }

  /**
   * Resumes the batch and answers with it, as `resumeBatch` does; then runs it in the background, as an
   * upload does, so that it goes on without a worker (a worker, or another instance's run, joins or is
   * joined: one run takes the batch, the others help).
   */
  @Post('batches/:id/resume')
  @HttpCode(200)
  async resume(@UuidParam('id') id: string, @Body() body: ResumeBody) {
    const batch = await this.batches.resumeBatch(id, { retryFailed: body.retryFailed });
    this.runInBackground(id);
    return batch;
  }

  @Post('batches/:id/cancel')
  @HttpCode(200)
  cancel(@UuidParam('id') id: string, @Body() body: ReasonBody) {
    return this.batches.cancelBatch(id, { reason: body.reason });
  }

  /** Approves the batch and answers with it, as `approveBatch` does; then runs it, as `resume` does. */
  @Post('batches/:id/approve')
  @HttpCode(200)
  async approve(@UuidParam('id') id: string) {
    const batch = await this.batches.approveBatch(id);
    this.runInBackground(id);
    return batch;
  }

  @Post('batches/:id/reject')
  @HttpCode(200)
  reject(@UuidParam('id') id: string, @Body() body: ReasonBody) {
    return this.batches.rejectBatch(id, body.reason);
  }

  /**
   * A run of the batch here, not waited for. A batch paused or cancelled again before the run starts is
   * not run: `processBatch` resolves with it as it stands, and nothing is logged.
   */
  private runInBackground(id: string): void {
    this.runs.start(id, () => this.batches.processBatch(id));
  }
}
