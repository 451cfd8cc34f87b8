/** The resolved options of one registration of the admin module. */
export const ADMIN_OPTIONS = Symbol('RELIABLE_IMPORTS_ADMIN_OPTIONS');
