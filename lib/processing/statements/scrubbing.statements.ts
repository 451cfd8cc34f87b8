/**
 * The statement of scrubbing: the personal data of the rows of given batches replaced, in place, by what
 * the processor allows to keep and a digest. Which trees are due, and their lock, are retention's
 * (`dueRoots`, `lockRoots`, `treeFacts`): a tree is scrubbed whole, under the lock a reprocess and a
 * correction take too.
 */

import { messages } from '../../reliable-imports.messages';
import { ITEM_STATUS } from '../../statuses';
import { sqlWord, type Statement } from './statement';

/** `data` cut to the allowed fields ($2): an object of those of its fields, `{}` when none. */
const KEEP = (data: string): string => `
      CASE WHEN jsonb_typeof(${data}) = 'object'
        THEN COALESCE(
          (SELECT jsonb_object_agg(k."key", k."value") FROM jsonb_each(${data}) k WHERE k."key" = ANY($2::text[])),
          '{}'::jsonb)
        ELSE '{}'::jsonb END`;

/**
 * Scrubs the rows of batches `batchIds` that are due and not scrubbed yet: those that completed and those
 * whose source row completed in a copy (resolved), and with `includeUnresolved` every row. Each keeps of
 * its source and corrected data only the fields `keepFields`, and the SHA-256 of its source data as
 * stored; its result, error texts, the stored raw text of a line that could not be read, and the data in
 * the details of its audit-log entries (a correction's old and new data) are removed. The entries keep
 * their level, time and the module's own text (a correction's), the other texts are replaced: a
 * processor's log message may quote the row. Returns how many rows and entries, and the batches touched.
 */
export function scrubRowsOfBatches(args: {
  batchIds: readonly string[];
  keepFields: readonly string[];
  includeUnresolved: boolean;
}): Statement {
  const corrected = messages.itemCorrected();
  return {
    text: `
    WITH due AS (
      SELECT i."id" FROM "import_batch_items" i
      WHERE i."batch_id" = ANY($1::uuid[]) AND i."scrubbed_at" IS NULL
        AND (i."status" = ${sqlWord(ITEM_STATUS.completed)} OR $3::boolean OR EXISTS (
          SELECT 1 FROM "import_batch_items" c
          WHERE c."status" = ${sqlWord(ITEM_STATUS.completed)}
            AND (c."id" = COALESCE(i."original_item_id", i."id")
                 OR c."original_item_id" = COALESCE(i."original_item_id", i."id"))))
      FOR UPDATE
    ), scrubbed AS (
      UPDATE "import_batch_items" i
      SET "source_digest" = encode(sha256(convert_to(i."source_data"::text, 'UTF8')), 'hex'),
          "source_data" = ${KEEP('i."source_data"')},
          "corrected_data" = CASE WHEN i."corrected_data" IS NULL THEN NULL ELSE ${KEEP('i."corrected_data"')} END,
          "processed_data" = NULL,
          "error_message" = CASE WHEN i."error_message" IS NULL THEN NULL ELSE $4::text END,
          "error_details" = CASE WHEN i."error_details" IS NULL THEN NULL ELSE jsonb_strip_nulls(
            jsonb_build_object('name', i."error_details" -> 'name', 'code', i."error_details" -> 'code')) END,
          "dry_run_error" = CASE WHEN i."dry_run_error" IS NULL THEN NULL ELSE $4::text END,
          "scrubbed_at" = now()
      FROM due WHERE i."id" = due."id"
      RETURNING i."id", i."batch_id"
    ), entries AS (
      UPDATE "import_logs" l
      SET "details" = jsonb_strip_nulls(jsonb_build_object(
            'itemIndex', l."details" -> 'itemIndex', 'mode', l."details" -> 'mode',
            'fileLine', l."details" -> 'fileLine', 'scrubbed', true)),
          "message" = CASE WHEN l."message" = $5::text || (l."details" ->> 'itemIndex') || $6::text
                           THEN l."message" ELSE $7::text END
      FROM scrubbed s WHERE l."item_id" = s."id"
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM scrubbed)::integer AS "rows",
           (SELECT count(*) FROM entries)::integer AS "logs",
           COALESCE((SELECT array_agg(DISTINCT "batch_id"::text) FROM scrubbed), '{}') AS "batch_ids"`,
    values: [
      args.batchIds,
      args.keepFields,
      args.includeUnresolved,
      messages.scrubbedText(),
      corrected.before,
      corrected.after,
      messages.scrubbedLogMessage(),
    ],
  };
}
