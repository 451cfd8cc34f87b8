import { Transform } from 'class-transformer';

/** A query value given once (`?status=a`) or repeated (`?status=a&status=b`), as a list. */
export const AsList = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) =>
    value === undefined ? undefined : Array.isArray(value) ? value : [value],
  );

/** A query value as a whole number; anything else is left as it is, for the validator to name. */
export const AsNumber = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value,
  );

/** `true`/`false` in a query; anything else is left as it is, for the validator to name. */
export const AsBoolean = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) =>
    value === 'true' ? true : value === 'false' ? false : value,
  );
