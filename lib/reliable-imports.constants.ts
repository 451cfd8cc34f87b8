/** Metadata key under which `@ImportProcessor()` records its options. Known only to the accessor. */
export const IMPORT_PROCESSOR_METADATA = 'reliable-imports:processor';

/** Injection token of the resolved, validated module options. */
export const RESOLVED_OPTIONS = Symbol('RELIABLE_IMPORTS_RESOLVED_OPTIONS');

/** Injection token of the TypeORM DataSource the module works on. */
export const RELIABLE_IMPORTS_DATA_SOURCE = Symbol('RELIABLE_IMPORTS_DATA_SOURCE');

/** Items per multi-row INSERT when a batch is created. */
export const CREATE_CHUNK_SIZE = 1000;

/** Items claimed per round trip while a batch is processed. */
export const CLAIM_CHUNK_SIZE = 25;
