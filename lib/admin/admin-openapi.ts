import { RequestMethod, type Type } from '@nestjs/common';
import { BATCH_STATUSES, ITEM_STATUSES, LOG_LEVELS } from '../statuses';
import { ReasonBody, ReprocessBody, ResumeBody } from './dto/control.body';
import {
  CorrectionEntry,
  CorrectionsBody,
  CorrectionsFileQuery,
  CorrectItemBody,
} from './dto/corrections.body';
import { CreateBatchQuery } from './dto/create-batch.query';
import { ExportQuery, FailuresQuery } from './dto/failures.query';
import { ItemsQuery } from './dto/items.query';
import { ListBatchesQuery } from './dto/list-batches.query';
import { LogsQuery } from './dto/logs.query';
import { PageQuery } from './dto/page.query';
import type { ResolvedAdminOptions } from './reliable-imports-admin-options.interface';
import { ReliableImportsAdminRoutes } from './reliable-imports-admin.routes';

type Options = Record<string, unknown>;
type AnyDecorator = (target: object, key?: string | symbol, descriptor?: unknown) => unknown;

/**
 * The part of `@nestjs/swagger` used here, typed here: the package is an optional peer, so neither the
 * code nor the published types of the library may name it.
 */
interface Swagger {
  ApiProperty(options: Options): AnyDecorator;
  ApiOperation(options: Options): AnyDecorator;
  ApiParam(options: Options): AnyDecorator;
  ApiBody(options: Options): AnyDecorator;
  ApiResponse(options: Options): AnyDecorator;
  ApiHeader(options: Options): AnyDecorator;
  ApiTags(...tags: string[]): AnyDecorator;
  ApiProduces(...types: string[]): AnyDecorator;
  ApiConsumes(...types: string[]): AnyDecorator;
  ApiExtraModels(...models: Type<unknown>[]): AnyDecorator;
  getSchemaPath(model: Type<unknown>): string;
}

/** The tag of every admin route in the OpenAPI document. */
export const ADMIN_OPENAPI_TAG = 'reliable-imports admin';

/** `@nestjs/swagger` when the app has it installed; `undefined` otherwise. */
export function loadSwagger(): Swagger | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('@nestjs/swagger') as Swagger;
  } catch {
    return undefined;
  }
}

const MODES = ['replace', 'merge'];
const UUID = { type: 'string', format: 'uuid' };
const ROW_DATA = {
  type: 'object',
  additionalProperties: true,
  description: "The row's corrected data, as the processor reads it.",
  example: { email: 'ada@example.com' },
};
const MODE = {
  required: false,
  enum: MODES,
  default: 'replace',
  description: "`replace` the row's data, or `merge` these keys into it.",
};

/** What the properties of the DTO classes show in the document. */
const PROPERTIES: [Type<unknown>, string, Options][] = [
  // PageQuery first: its subclasses copy its list of properties when theirs are added.
  [
    PageQuery,
    'limit',
    {
      required: false,
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      example: 50,
      description: 'How many, from 1 to 1000; each listing has its default.',
    },
  ],
  [
    PageQuery,
    'offset',
    { required: false, type: 'integer', minimum: 0, default: 0, description: 'How many to skip.' },
  ],
  [
    ListBatchesQuery,
    'status',
    {
      required: false,
      enum: [...BATCH_STATUSES],
      isArray: true,
      description: 'Only batches in these statuses (the parameter may repeat).',
    },
  ],
  [
    ListBatchesQuery,
    'batchType',
    { required: false, type: 'string', maxLength: 200, example: 'contact' },
  ],
  [
    ListBatchesQuery,
    'parentBatchId',
    { required: false, ...UUID, description: 'Only the reprocesses of this batch.' },
  ],
  [
    ItemsQuery,
    'status',
    {
      required: false,
      enum: [...ITEM_STATUSES],
      isArray: true,
      description: 'Only rows in these statuses (the parameter may repeat).',
    },
  ],
  [
    FailuresQuery,
    'includeResolved',
    {
      required: false,
      type: 'boolean',
      default: false,
      description: 'Also the failed rows that a reprocess has since completed.',
    },
  ],
  [ExportQuery, 'format', { required: false, enum: ['csv', 'jsonl'], default: 'csv' }],
  [
    LogsQuery,
    'level',
    {
      required: false,
      enum: [...LOG_LEVELS],
      isArray: true,
      description: 'Only logs of these levels (the parameter may repeat).',
    },
  ],
  [LogsQuery, 'itemId', { required: false, ...UUID, description: 'Only the logs of this row.' }],
  [CorrectionsFileQuery, 'mode', MODE],
  [
    ReasonBody,
    'reason',
    {
      required: false,
      type: 'string',
      maxLength: 2000,
      example: 'the supplier sent the wrong file',
    },
  ],
  [
    ResumeBody,
    'retryFailed',
    {
      required: false,
      type: 'boolean',
      default: false,
      description: 'Every failed row goes again, not only the corrected ones.',
    },
  ],
  [
    ReprocessBody,
    'wait',
    {
      required: false,
      type: 'boolean',
      default: true,
      description:
        'false: answer 202 with the child batch once it is stored, and run it in the background.',
    },
  ],
  [
    CreateBatchQuery,
    'batchType',
    {
      type: 'string',
      maxLength: 200,
      example: 'customer_data',
      description: 'The batch type of the processor that reads the file (`GET batch-types`).',
    },
  ],
  [
    ReprocessBody,
    'failedItemsOnly',
    {
      required: false,
      type: 'boolean',
      default: true,
      description: 'Only the failed rows of the tree go again.',
    },
  ],
  [CorrectItemBody, 'data', { required: true, ...ROW_DATA }],
  [CorrectItemBody, 'mode', MODE],
  [
    CorrectionEntry,
    'itemId',
    { required: false, ...UUID, description: 'The row, by one of its item ids; or give `line`.' },
  ],
  [
    CorrectionEntry,
    'line',
    {
      required: false,
      type: 'integer',
      minimum: 1,
      example: 2,
      description: 'The row, by its line in the source file; or give `itemId`.',
    },
  ],
  [CorrectionEntry, 'data', { required: true, ...ROW_DATA }],
  [
    CorrectionsBody,
    'corrections',
    {
      required: true,
      type: () => CorrectionEntry,
      isArray: true,
      minItems: 1,
      maxItems: 10_000,
      description: 'Applied all or nothing.',
    },
  ],
  [CorrectionsBody, 'mode', MODE],
];

/**
 * The schema of `ReliableImportsHttpErrorBody` (an interface, which has no metadata) for the document,
 * under that name.
 */
const ErrorBody = class ReliableImportsHttpErrorBody {};
const ERROR_BODY_PROPERTIES: [string, Options][] = [
  ['statusCode', { type: 'integer', example: 404 }],
  [
    'error',
    {
      type: 'string',
      example: 'BATCH_NOT_FOUND',
      description: "The error's stable code, to branch on (`Bad Request` for a refused field).",
    },
  ],
  [
    'message',
    {
      // The type is dropped by Swagger for `oneOf`; without one, it looks for a class.
      type: 'string',
      oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
      example: 'Batch 0b6c1f0e-… was not found.',
      description: 'What to do; a list naming each refused field for a validation error.',
    },
  ],
  [
    'problems',
    {
      required: false,
      type: 'array',
      items: { type: 'object' },
      description: 'The refused lines of a corrections file, when it is one.',
    },
  ],
];

const ERRORS: Record<number, string> = {
  400: 'A malformed id, a field that fails validation (named in `message`), or refused corrections.',
  401: "Refused by the app's guards.",
  403: 'Refused by a guard; for POST and PATCH, also the custom header missing (`CSRF_HEADER_MISSING`).',
  404: 'No such batch or row (`BATCH_NOT_FOUND`, `ITEM_NOT_FOUND`).',
  409: 'The batch or the row is not in a state that allows this (`BATCH_STATUS_CONFLICT`, …).',
  413: 'The file is larger than 16 MiB.',
  415: 'A type other than `text/csv` or `application/x-ndjson`.',
  500: "A fault of the server or the app's set-up; the details are in the server's log.",
  503: 'The database cannot be reached, or the server is shutting down: try again.',
};

interface RouteDoc {
  summary: string;
  description?: string;
  /** The path parameter (a UUID). */
  param?: 'id' | 'itemId';
  /** The answer: its status (200 unless given) and what it is. */
  ok: string;
  created?: boolean;
  /** The status of the answer when it is neither 200 nor 201. */
  okStatus?: number;
  /** The answer 202, when the route may answer before its work is done. */
  accepted?: string;
  errors: number[];
  body?: Options;
  produces?: string[];
  /** What the answer looks like, for a stream (its text). */
  example?: string;
  consumes?: string[];
}

type RouteName = Exclude<keyof ReliableImportsAdminRoutes, 'onModuleInit'>;

const READ = [400, 404];
const CHANGE = [400, 404, 409];

/** Every route, by its method's name. */
const ROUTES: Record<RouteName, RouteDoc> = {
  getBatchTypes: {
    summary: 'The batch types of the registered processors',
    ok: '`[{ batchType }]`, in alphabetical order.',
    errors: [],
  },
  streamBatches: {
    summary: 'The list of batches, live, as Server-Sent Events',
    description:
      'A `batches` event at once and whenever the list changes (read every second), `{ batches }`, each batch with its `progress` while it may run (else null); same filters as the list. A reading that fails ends the stream with a `failure` event whose data is an error body.',
    ok: 'The event stream.',
    errors: [400],
    produces: ['text/event-stream'],
  },
  createBatch: {
    summary: 'Import a file: store it as a batch and run it in the background',
    description:
      'The body is the file (CSV with a header line, or JSON lines), read as it arrives; the answer comes once every row is stored. A line that cannot be read becomes a failed row to correct. A batch that needs approval waits for it.',
    ok: 'The batch, stored; its run goes on in the background.',
    okStatus: 202,
    errors: [400, 415],
    consumes: ['text/csv', 'application/x-ndjson'],
    body: {
      schema: { type: 'string', format: 'binary' },
      examples: {
        csv: {
          summary: 'text/csv',
          value: 'email,first_name\nada@example.com,Ada\n',
        },
        jsonl: {
          summary: 'application/x-ndjson',
          value: '{"email":"ada@example.com","first_name":"Ada"}\n',
        },
      },
    },
  },
  streamBatch: {
    summary: 'What a batch page shows, live, as Server-Sent Events',
    description:
      'A `batch` event at once and whenever it changes (read every second): `{ readAt, batch, lineage, progress }`, the progress by batch id of every batch of the tree that may still run, and when the reading began (ISO 8601), so that a page that also reads `GET batches/:id` keeps the newest. A reading that fails ends the stream with a `failure` event whose data is an error body.',
    param: 'id',
    ok: 'The event stream.',
    errors: READ,
    produces: ['text/event-stream'],
  },
  listBatches: {
    summary: 'List batches, newest first',
    ok: 'The batches (`ImportBatch[]`).',
    errors: [400],
  },
  getBatch: {
    summary: 'A batch with its counts and its tree',
    param: 'id',
    ok: '`{ readAt, batch, summary, lineage }`: when the reading began (ISO 8601), the batch, its summary, and its tree (root and reprocesses).',
    errors: READ,
  },
  getItems: {
    summary: "A batch's rows, in order",
    param: 'id',
    ok: 'The rows (`ImportItem[]`).',
    errors: READ,
  },
  getFailures: {
    summary: "The unresolved failed rows of a batch's tree, in source order",
    param: 'id',
    ok: 'The failures, each with its line, data and reason.',
    errors: READ,
  },
  exportFailures: {
    summary: 'Download the failures file (CSV or JSON lines), to edit and send back',
    param: 'id',
    ok: 'The file, as an attachment.',
    errors: READ,
    produces: ['text/csv', 'application/x-ndjson'],
  },
  getLogs: {
    summary: "A batch's logs, oldest first",
    param: 'id',
    ok: 'The logs.',
    errors: READ,
  },
  getProgress: {
    summary: "A batch's progress",
    param: 'id',
    ok: 'Counts, percent, rate and estimated time left.',
    errors: READ,
  },
  streamProgress: {
    summary: "A batch's progress, live, as Server-Sent Events",
    description:
      'A `progress` event every second until the batch ends; a reading that fails ends the stream with a `failure` event whose data is an error body.',
    param: 'id',
    ok: 'The event stream.',
    errors: READ,
    produces: ['text/event-stream'],
  },
  streamEvents: {
    summary: "A batch's events, live, as Server-Sent Events",
    description:
      "The module's events of the batch (`RELIABLE_IMPORTS_EVENTS`), published in this instance or in any other from the answer on, each as a message whose `event` is the event's name (`reliable-imports.batch.started`, `…batch.progress`, `…row.failed`, `…batch.paused`, `…batch.resumed`, `…batch.cancelled`, `…batch.approved`, `…batch.rejected`, `…batch.completed`, `…batch.failed`) and whose data is the event. Ends after the event of the batch's end (at once for a batch that has ended), or when the client goes away. Where this instance cannot LISTEN (PGlite, `connectionPooler: 'transaction'`), only its own events come, and the stream ends a second or two after the batch, as read every second. A reading that fails ends the stream with a `failure` event whose data is an error body.",
    param: 'id',
    ok: 'The event stream.',
    errors: READ,
    produces: ['text/event-stream'],
    example: [
      'id: 1',
      'event: reliable-imports.batch.started',
      'data: {"name":"reliable-imports.batch.started","batchId":"0b6c1f0e-5a1d-4c8e-9a57-1f6f3f1f7e01","batchType":"customer_data","status":"processing","at":"2026-11-30T20:00:00.000Z","instanceId":"worker-1:4242:1c9e","totalItems":500,"parentBatchId":null}',
      '',
      'id: 2',
      'event: reliable-imports.row.failed',
      'data: {"name":"reliable-imports.row.failed","batchId":"0b6c1f0e-5a1d-4c8e-9a57-1f6f3f1f7e01","batchType":"customer_data","status":"processing","at":"2026-11-30T20:00:01.250Z","instanceId":"worker-1:4242:1c9e","itemId":"5e1d0c3a-2b7f-4c1e-9a6d-0f3b2c1d4e5f","itemIndex":11,"sourceLine":13,"errorMessage":"invalid email","errorCode":"VALIDATION_FAILED","attempts":1}',
      '',
      'id: 3',
      'event: reliable-imports.batch.completed',
      'data: {"name":"reliable-imports.batch.completed","batchId":"0b6c1f0e-5a1d-4c8e-9a57-1f6f3f1f7e01","batchType":"customer_data","status":"completed_with_errors","at":"2026-11-30T20:00:09.800Z","instanceId":"worker-1:4242:1c9e","totalItems":500,"completedItems":472,"failedItems":28,"skippedItems":0,"cancelledItems":0}',
      '',
      '',
    ].join('\n'),
  },
  correctItem: {
    summary: "Correct a failed row's data",
    param: 'itemId',
    ok: 'The corrected row.',
    errors: CHANGE,
    body: {
      type: CorrectItemBody,
      examples: {
        replace: {
          summary: "Replace the row's data",
          value: { data: { email: 'ada@example.com' } },
        },
        merge: {
          summary: 'Merge keys into it',
          value: { data: { email: 'ada@example.com' }, mode: 'merge' },
        },
      },
    },
  },
  correctItems: {
    summary: 'Correct failed rows of a batch, all or nothing',
    param: 'id',
    ok: 'What was corrected.',
    errors: CHANGE,
    body: {
      type: CorrectionsBody,
      examples: {
        byLine: {
          summary: 'Rows named by their source line',
          value: { corrections: [{ line: 2, data: { email: 'ada@example.com' } }], mode: 'merge' },
        },
        byItem: {
          summary: 'A row named by its item id',
          value: {
            corrections: [
              {
                itemId: '5e1d0c3a-2b7f-4c1e-9a6d-0f3b2c1d4e5f',
                data: { email: 'ada@example.com' },
              },
            ],
          },
        },
      },
    },
  },
  correctFromFile: {
    summary: 'Correct failed rows from an edited failures file (CSV or JSON lines), all or nothing',
    description: 'The body is the file, up to 16 MiB, read whole before it is applied.',
    param: 'id',
    ok: 'What was corrected.',
    errors: [...CHANGE, 413, 415],
    consumes: ['text/csv', 'application/x-ndjson'],
    body: {
      schema: { type: 'string', format: 'binary' },
      description: 'An edited failures export (`GET …/failures/export`).',
      // Swagger puts the same examples under each type: each says which type it is.
      examples: {
        csv: {
          summary: 'text/csv: a CSV export, edited',
          value: '_item_id,_line,_status,_reason,email\n,2,failed,,ada@example.com\n',
        },
        jsonl: {
          summary: 'application/x-ndjson: a JSON lines export, edited',
          value: '{"line":2,"data":{"email":"ada@example.com"}}\n',
        },
      },
    },
  },
  reprocess: {
    summary: "Reprocess a batch's failed rows as a child batch",
    description:
      "Answers when the child batch's run has ended (201); with `wait: false`, once the child batch is stored (202).",
    accepted: 'The child batch, stored; its run goes on in the background.',
    param: 'id',
    ok: "The child batch's summary.",
    created: true,
    errors: CHANGE,
    body: {
      type: ReprocessBody,
      examples: {
        failed: { summary: 'The failed rows (the default)', value: {} },
        all: { summary: 'Every row', value: { failedItemsOnly: false } },
        background: { summary: 'Answer at once, run in the background', value: { wait: false } },
      },
    },
  },
  pause: {
    summary: 'Pause a batch',
    param: 'id',
    ok: 'The batch.',
    errors: CHANGE,
    body: {
      type: ReasonBody,
      examples: { reason: { summary: 'With a reason', value: { reason: 'nightly maintenance' } } },
    },
  },
  resume: {
    summary: 'Resume a paused batch and run it in the background',
    param: 'id',
    ok: 'The batch, resumed; its run goes on in the background (a run of the worker is joined).',
    errors: CHANGE,
    body: {
      type: ResumeBody,
      examples: {
        corrected: { summary: 'The corrected rows go again', value: {} },
        all: { summary: 'Every failed row goes again', value: { retryFailed: true } },
      },
    },
  },
  cancel: {
    summary: 'Cancel a batch',
    param: 'id',
    ok: 'The batch.',
    errors: CHANGE,
    body: {
      type: ReasonBody,
      examples: { reason: { summary: 'With a reason', value: { reason: 'wrong file' } } },
    },
  },
  approve: {
    summary: 'Approve a batch that waits for approval and run it in the background',
    param: 'id',
    ok: 'The batch, approved; its run goes on in the background (a run of the worker is joined).',
    errors: CHANGE,
  },
  reject: {
    summary: 'Reject a batch that waits for approval',
    param: 'id',
    ok: 'The batch.',
    errors: CHANGE,
    body: {
      type: ReasonBody,
      examples: { reason: { summary: 'With a reason', value: { reason: 'duplicate upload' } } },
    },
  },
};

const described = new WeakSet<object>();

/** Puts the DTOs' properties and the error body in the document's metadata, once per class. */
function describeModels(swagger: Swagger): void {
  for (const [type, key, options] of PROPERTIES) {
    if (described.has(type)) continue;
    swagger.ApiProperty(options)(type.prototype as object, key);
  }
  for (const [type] of PROPERTIES) described.add(type);
  if (!described.has(ErrorBody)) {
    for (const [key, options] of ERROR_BODY_PROPERTIES) {
      swagger.ApiProperty(options)(ErrorBody.prototype, key);
    }
    described.add(ErrorBody);
  }
}

/**
 * Gives the controller of one registration its own function for `name`, which calls the routes' own and
 * carries a copy of its metadata (path, method, status, interceptors): what the document shows of a route
 * is then the registration's (its header), and the shared class is left as it is.
 */
function ownMethod(controller: Type<unknown>, name: RouteName): PropertyDescriptor {
  const shared = Object.getOwnPropertyDescriptor(ReliableImportsAdminRoutes.prototype, name)!
    .value as (...args: unknown[]) => unknown;
  // A method named as the route's: Swagger reads its parameter types by the function's name.
  const own = {
    [name](this: unknown, ...args: unknown[]): unknown {
      return shared.apply(this, args);
    },
  }[name];
  for (const key of Reflect.getOwnMetadataKeys(shared) as unknown[]) {
    Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, shared), own);
  }
  const descriptor = { value: own, writable: true, configurable: true, enumerable: false };
  Object.defineProperty(controller.prototype, name, descriptor);
  return descriptor;
}

/**
 * Describes the admin routes of one registration for `@nestjs/swagger`, when the app has it: a tag, and
 * for every route a summary, its path parameter, query fields, request body with examples, its answer,
 * the error statuses it can give with the body of `ReliableImportsHttpErrorBody`, and, for POST and
 * PATCH, the custom header as a required header parameter. Without the package, nothing is done.
 */
export function describeAdminApi(controller: Type<unknown>, options: ResolvedAdminOptions): void {
  const swagger = loadSwagger();
  if (!swagger) return;
  describeModels(swagger);
  swagger.ApiTags(ADMIN_OPENAPI_TAG)(controller);
  swagger.ApiExtraModels(ErrorBody)(controller);
  for (const [name, doc] of Object.entries(ROUTES) as [RouteName, RouteDoc][]) {
    const descriptor = ownMethod(controller, name);
    const decorators: AnyDecorator[] = [
      swagger.ApiOperation({ summary: doc.summary, description: doc.description }),
      swagger.ApiResponse({
        status: doc.okStatus ?? (doc.created ? 201 : 200),
        description: doc.ok,
        // A file or a stream: text, under each type it is produced as.
        ...(doc.produces
          ? { schema: { type: 'string', ...(doc.example ? { example: doc.example } : {}) } }
          : {}),
      }),
    ];
    if (doc.accepted) {
      decorators.push(swagger.ApiResponse({ status: 202, description: doc.accepted }));
    }
    for (const status of [401, 403, ...doc.errors, 500, 503]) {
      // JSON whatever the route produces (a file, a stream): errors are answered before it starts.
      decorators.push(
        swagger.ApiResponse({
          status,
          description: ERRORS[status],
          content: { 'application/json': { schema: { $ref: swagger.getSchemaPath(ErrorBody) } } },
        }),
      );
    }
    if (doc.param) {
      decorators.push(
        swagger.ApiParam({
          name: doc.param,
          ...UUID,
          description: doc.param === 'id' ? 'The batch.' : 'The row (an item id).',
        }),
      );
    }
    if (doc.body) decorators.push(swagger.ApiBody(doc.body));
    if (doc.produces) decorators.push(swagger.ApiProduces(...doc.produces));
    if (doc.consumes) decorators.push(swagger.ApiConsumes(...doc.consumes));
    // Nest's own key of a route's method (`METHOD_METADATA`).
    const changes = Reflect.getMetadata('method', descriptor.value as object) !== RequestMethod.GET;
    if (changes) {
      decorators.push(
        swagger.ApiHeader({
          name: options.csrfHeader,
          required: true,
          description:
            'Any non-empty value: proves the request was not sent by a form or a script of another site.',
          schema: { type: 'string', example: '1' },
        }),
      );
    }
    for (const decorate of decorators) decorate(controller.prototype as object, name, descriptor);
  }
}
