/** Carries what a processor's hook threw, so that the run tells it from its own database's errors. */
export class HookThrew extends Error {
  constructor(readonly error: unknown) {
    super('A processor hook threw');
  }
}

/** Calls a processor's hook; what it throws comes out as a `HookThrew`. */
export async function callHook<T>(call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new HookThrew(error);
  }
}
