/**
 * Carries what the processor's code threw (a hook, `validateItem`, `processItem`), so that the run tells it
 * from what the module's own statements threw.
 */
export class HookThrew extends Error {
  constructor(readonly error: unknown) {
    super('A processor hook threw');
  }
}

/** Calls the processor's code; what it throws comes out as a `HookThrew`. */
export async function callHook<T>(call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new HookThrew(error);
  }
}
