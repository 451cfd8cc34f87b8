/** Where JSON cannot hold a value, and why. */
export interface JsonProblem {
  path: string;
  problem: string;
}

/** A UTF-16 surrogate without its pair: JSON.stringify escapes it, and PostgreSQL's jsonb refuses it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const describe = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;

/**
 * Serializes an item's source data to JSON, refusing anything JSON (or PostgreSQL's jsonb) would drop or
 * reject instead of storing it silently changed. Object properties that are `undefined` are left out, as
 * `JSON.stringify` does; everywhere else `undefined` is refused.
 *
 * @returns the JSON text, or the first problem found.
 */
export function serializeSourceData(value: unknown, rootPath = 'sourceData'): string | JsonProblem {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      path: rootPath,
      problem: `is ${value === undefined ? 'undefined' : describe(value)}, but an item must be a plain object (one row)`,
    };
  }
  const problem = findProblem(value, rootPath, new Set());
  return problem ?? JSON.stringify(value);
}

/** Serializes any JSON value (metadata, a processor's result) with the same checks. */
export function serializeJsonValue(value: unknown, rootPath: string): string | JsonProblem {
  const problem = findProblem(value, rootPath, new Set());
  return problem ?? JSON.stringify(value);
}

function findProblem(value: unknown, path: string, ancestors: Set<object>): JsonProblem | null {
  switch (typeof value) {
    case 'string':
      if (value.includes('\u0000'))
        return {
          path,
          problem: 'contains the character \\u0000, which PostgreSQL cannot store in JSON',
        };
      return LONE_SURROGATE.test(value)
        ? {
            path,
            problem:
              'contains an unpaired UTF-16 surrogate (broken text), which PostgreSQL cannot store in JSON',
          }
        : null;
    case 'number':
      return Number.isFinite(value)
        ? null
        : { path, problem: `is ${value}, which JSON cannot hold (it would become null)` };
    case 'boolean':
      return null;
    case 'bigint':
      return {
        path,
        problem: 'is a BigInt, which JSON cannot hold; convert it to a string or a number',
      };
    case 'undefined':
      return {
        path,
        problem: 'is undefined, which JSON cannot hold; use null or leave the key out',
      };
    case 'function':
    case 'symbol':
      return { path, problem: `is ${describe(value)}, which JSON cannot hold` };
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.has(object)) {
    return {
      path,
      problem: 'refers back to an object that contains it (a cycle), which JSON cannot hold',
    };
  }
  if (object instanceof Map || object instanceof Set) {
    return {
      path,
      problem: `is a ${object.constructor.name}, which JSON stores as {}; convert it (Object.fromEntries(map), [...set])`,
    };
  }
  const toJSON = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    const replaced: unknown = toJSON.call(object);
    if (object instanceof Date && replaced === null) {
      return { path, problem: 'is an invalid Date, which JSON stores as null' };
    }
    // A toJSON that returns its own object is serialized as a plain object, as JSON.stringify does.
    if (replaced !== object) {
      ancestors.add(object);
      try {
        return findProblem(replaced, path, ancestors);
      } finally {
        ancestors.delete(object);
      }
    }
  }
  ancestors.add(object);
  try {
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        const found = findProblem(object[i], `${path}[${i}]`, ancestors);
        if (found) return found;
      }
      return null;
    }
    for (const key of Object.keys(object)) {
      const child = (object as Record<string, unknown>)[key];
      // A toJSON method has been applied already; JSON leaves it out like undefined.
      if (child === undefined || (key === 'toJSON' && typeof child === 'function')) continue;
      const childPath = /^[A-Za-z_$][\w$]*$/.test(key)
        ? `${path}.${key}`
        : `${path}[${JSON.stringify(key)}]`;
      const keyProblem = key.includes('\u0000')
        ? { path: childPath, problem: 'is a key containing \\u0000, which PostgreSQL cannot store' }
        : LONE_SURROGATE.test(key)
          ? {
              path: childPath,
              problem:
                'is a key containing an unpaired UTF-16 surrogate, which PostgreSQL cannot store',
            }
          : null;
      const found = keyProblem ?? findProblem(child, childPath, ancestors);
      if (found) return found;
    }
    return null;
  } finally {
    ancestors.delete(object);
  }
}

/** Narrows the result of `serializeSourceData`. */
export function isJsonProblem(result: string | JsonProblem): result is JsonProblem {
  return typeof result !== 'string';
}
