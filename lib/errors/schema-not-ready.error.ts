import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * The application start found the import tables missing or older than the module: `missing` names what
 * is missing (`table "import_batches"`, `column "import_batches"."source_columns"`) and `migrations` the
 * migrations of `reliableImportsMigrations` to run, in order.
 */
export class SchemaNotReadyError extends ReliableImportsError {
  constructor(
    readonly missing: readonly string[],
    readonly migrations: readonly string[],
  ) {
    super('SCHEMA_NOT_READY', messages.schemaNotReady(missing, migrations));
  }
}
