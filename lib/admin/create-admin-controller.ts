import {
  Controller,
  type Type,
  UseFilters,
  UseGuards,
  UsePipes,
  ValidationPipe,
} from '@nestjs/common';
import { ReliableImportsExceptionFilter } from '../http/reliable-imports-exception.filter';
import { describeAdminApi } from './admin-openapi';
import { AdminRequestHeaderGuard } from './admin-request-header.guard';
import type { ResolvedAdminOptions } from './reliable-imports-admin-options.interface';
import { ReliableImportsAdminRoutes } from './reliable-imports-admin.routes';

/**
 * A controller class of its own per registration, so that two registrations (in one app or two) each have
 * their path and guards: Nest reads both from the class's metadata, and one class has only one.
 * (`RouterModule` prefixes by module class, which every registration of this module shares.)
 */
export function createAdminController(options: ResolvedAdminOptions): Type<unknown> {
  class ReliableImportsAdminController extends ReliableImportsAdminRoutes {}
  Controller(options.path)(ReliableImportsAdminController);
  // The app's guards first: a stranger learns nothing, not even that a header is missing.
  UseGuards(
    ...options.guards,
    new AdminRequestHeaderGuard(options.csrfHeader),
  )(ReliableImportsAdminController);
  UseFilters(ReliableImportsExceptionFilter)(ReliableImportsAdminController);
  UsePipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      forbidUnknownValues: true,
    }),
  )(ReliableImportsAdminController);
  // In the app's OpenAPI document when it uses @nestjs/swagger (an optional peer).
  describeAdminApi(ReliableImportsAdminController, options);
  return ReliableImportsAdminController;
}
