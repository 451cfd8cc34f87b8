import { CreateReliableImportsSchema1764000000000 } from './1764000000000-create-reliable-imports-schema';
import { AddSourceLines1764200000000 } from './1764200000000-add-source-lines';

export { CreateReliableImportsSchema1764000000000, AddSourceLines1764200000000 };

/**
 * The migrations that create and evolve the import tables and views, in order. Add them to your
 * DataSource: `migrations: [...reliableImportsMigrations]`.
 */
export const reliableImportsMigrations = [
  CreateReliableImportsSchema1764000000000,
  AddSourceLines1764200000000,
];
