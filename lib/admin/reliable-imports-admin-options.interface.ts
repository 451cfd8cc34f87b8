import type { CanActivate, ModuleMetadata, Type } from '@nestjs/common';

/** Options of `ReliableImportsAdminModule.register()`. */
export interface ReliableImportsAdminOptions {
  /**
   * Where the routes are mounted, e.g. `'ops/imports'` for `/ops/imports/batches` (after the app's global
   * prefix, if any).
   * @default 'imports-admin'
   */
  path?: string;
  /**
   * The guards every route sits behind, run in this order, as `@UseGuards()` takes them: classes (made by
   * Nest in the admin module, so their dependencies must be there: see `imports`) or instances. Required,
   * unless `allowUnauthenticated` is true.
   */
  guards?: (Type<CanActivate> | CanActivate)[];
  /**
   * Modules the guard classes need (e.g. your auth module, for a guard that injects its service).
   * @default []
   */
  imports?: ModuleMetadata['imports'];
  /**
   * Mounts the routes with no guard (a warning is logged at startup): for a server only trusted people
   * can reach. Without it, registering no guard is refused at startup.
   * @default false
   */
  allowUnauthenticated?: boolean;
  /**
   * The header every state-changing request (POST, PATCH, DELETE) must carry, with any non-empty value
   * (e.g. `1`): a cross-site form cannot send a custom header, and a cross-site script cannot without the
   * server's CORS consent, so a page elsewhere cannot make a signed-in operator's browser change imports.
   * Without it such a request is answered 403.
   * @default 'x-reliable-imports-request'
   */
  csrfHeader?: string;
  /**
   * Serves the web page at `path` (`GET <path>/` and its files under `<path>/ui/`), behind the same
   * guards. `false` mounts the API only.
   * @default true
   */
  ui?: boolean;
}

/** The options with their defaults, checked. */
export interface ResolvedAdminOptions {
  path: string;
  guards: (Type<CanActivate> | CanActivate)[];
  imports: NonNullable<ModuleMetadata['imports']>;
  allowUnauthenticated: boolean;
  csrfHeader: string;
  ui: boolean;
}
