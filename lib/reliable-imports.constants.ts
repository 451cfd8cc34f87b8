/** Metadata key under which `@ImportProcessor()` records its options. Known only to the accessor. */
export const IMPORT_PROCESSOR_METADATA = 'reliable-imports:processor';

/** Injection token of the resolved, validated module options. */
export const RESOLVED_OPTIONS = Symbol('RELIABLE_IMPORTS_RESOLVED_OPTIONS');

/** Injection token of the TypeORM DataSource the module works on. */
export const RELIABLE_IMPORTS_DATA_SOURCE = Symbol('RELIABLE_IMPORTS_DATA_SOURCE');

/** Items per multi-row INSERT when a batch is created. */
export const CREATE_CHUNK_SIZE = 1000;

/**
 * UTF-8 bytes of JSON per multi-row INSERT when a batch is created: a chunk ends at 1,000 items or at this
 * size, whichever comes first (a row larger than this travels alone). Rows of normal width never reach it;
 * it keeps memory flat for wide rows, and far below PostgreSQL's 256 MB cap on one jsonb value.
 */
export const CREATE_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * The largest JSON a row (an item's source data or correction, a batch's sourceInfo or metadata) may have,
 * in UTF-8 bytes. jsonb can take up to six times the text's size (an array of small numbers), and a value
 * is capped at 256 MB: 16 MiB keeps every row, and every chunk, well within it.
 */
export const MAX_SOURCE_DATA_BYTES = 16 * 1024 * 1024;

/**
 * The highest line a row can come from: `source_line` is a PostgreSQL `integer`. A line beyond it (or 0, a
 * fraction, NaN) is refused with the row named, never left to fail as a SQL error.
 */
export const MAX_SOURCE_LINE = 2_147_483_647;

/**
 * The code stored with a line of a file that could not be read as a row (`error_details.code`): such a row
 * has no data to correct from, so a reprocess carries it only once it has a correction.
 */
export const MALFORMED_LINE_CODE = 'MALFORMED_LINE';

/**
 * The longest text of the module's `varchar` columns a caller fills (a batch's idempotency key, an item's
 * target table): longer text is refused with the value named, never left to fail as a SQL error.
 */
export const MAX_VARCHAR_LENGTH = 255;

/** The deepest nesting of objects and arrays stored, counting the row itself as level 1. */
export const MAX_JSON_DEPTH = 1000;

/** Items claimed per round trip while a batch is processed. */
export const CLAIM_CHUNK_SIZE = 25;
