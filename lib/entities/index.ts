import { ImportBatchItemEntity } from './import-batch-item.entity';
import { ImportBatchEntity } from './import-batch.entity';
import { ImportLogEntity } from './import-log.entity';

/**
 * The module's entities, to list in a DataSource's `entities` when the application wants repositories
 * for the import tables. The module does not need them registered.
 */
export const reliableImportsEntities = [ImportBatchEntity, ImportBatchItemEntity, ImportLogEntity];
