import { type DynamicModule, Module } from '@nestjs/common';
import type { createAdminController } from './create-admin-controller';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { messages } from '../reliable-imports.messages';
import { ADMIN_OPTIONS } from './admin.constants';
import { BackgroundRuns } from './background-runs';
import { BatchEventStreams } from './batch-event-streams';
import type { ReliableImportsAdminOptions } from './reliable-imports-admin-options.interface';
import { resolveAdminOptions } from './resolve-admin-options.util';
import { createAdminUiController } from './ui/create-admin-ui-controller';

/**
 * Loads the controller only when the module is registered: its DTOs need `class-validator` and
 * `class-transformer` (optional peers), which an app without the admin module need not install.
 */
function loadControllerFactory(): typeof createAdminController {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('class-validator');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('class-transformer');
  } catch {
    throw new InvalidOptionsError([messages.adminNeedsValidator()]);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require('./create-admin-controller') as {
    createAdminController: typeof createAdminController;
  };
  return loaded.createAdminController;
}

/**
 * A JSON REST API over `BatchService`, for operators: list and read batches, their rows, failures, logs
 * and progress (also as Server-Sent Events, as are a batch's events), export failures, correct rows,
 * reprocess, pause, resume, cancel, approve and reject; and a web page over it at `<path>/` (unless
 * `ui: false`). Opt-in: without it no route exists and no file is served. Import it next to
 * `ReliableImportsModule.forRoot()`, with the app's guards:
 *
 * ```ts
 * ReliableImportsAdminModule.register({ path: 'ops/imports', guards: [AdminGuard] })
 * ```
 *
 * Every route sits behind `guards`; a POST or PATCH must also carry the header `csrfHeader` (default
 * `x-reliable-imports-request: 1`). Bodies and queries are validated (400 naming the field); the module's
 * errors are answered by `ReliableImportsExceptionFilter`. Needs `class-validator` and
 * `class-transformer`.
 */
@Module({})
export class ReliableImportsAdminModule {
  /**
   * Mounts the routes at `options.path`. The path and the guards decide the routes, so they are given
   * here, not by a factory.
   *
   * @throws InvalidOptionsError when no guard is given (and `allowUnauthenticated` is not true), or an
   *   option is malformed: the message says how to fix it.
   */
  static register(options: ReliableImportsAdminOptions): DynamicModule {
    const resolved = resolveAdminOptions(options);
    const createController = loadControllerFactory();
    return {
      module: ReliableImportsAdminModule,
      imports: resolved.imports,
      controllers: [
        createController(resolved),
        ...(resolved.ui ? [createAdminUiController(resolved)] : []),
      ],
      providers: [
        { provide: ADMIN_OPTIONS, useValue: resolved },
        BackgroundRuns,
        BatchEventStreams,
      ],
    };
  }
}
