/** The registration's settings, which the server writes into the page (no inline script: CSP). */
interface AdminConfig {
  csrfHeader: string;
}

function readConfig(): AdminConfig {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="reliable-imports-admin"]');
  try {
    const parsed = JSON.parse(meta?.content ?? '') as Partial<AdminConfig>;
    if (typeof parsed.csrfHeader === 'string') return { csrfHeader: parsed.csrfHeader };
  } catch {
    // The page opened as a file, or by a server of another version: the module's default header.
  }
  return { csrfHeader: 'x-reliable-imports-request' };
}

const config = readConfig();

/** An answer of the server other than 2xx, with the message of its body for the operator. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The text of an error body `{ message: string | string[] }`, else the HTTP status. */
async function errorOf(response: Response): Promise<ApiError> {
  let message = '';
  try {
    const body = (await response.json()) as { message?: unknown };
    if (typeof body.message === 'string') message = body.message;
    else if (Array.isArray(body.message)) message = body.message.map(String).join('; ');
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  return new ApiError(response.status, message || `${response.status} ${response.statusText}`);
}

/**
 * A call of the admin API. URLs are relative to the page (`<path>/`), so the page works at any mount
 * path and under a global prefix. Every state-changing call carries the module's CSRF header.
 */
async function call<T>(method: string, url: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set('accept', 'application/json');
  if (method !== 'GET') headers.set(config.csrfHeader, '1');
  const response = await fetch(url, { ...init, method, headers, credentials: 'same-origin' });
  if (!response.ok) throw await errorOf(response);
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export function getJson<T>(url: string): Promise<T> {
  return call<T>('GET', url);
}

export function sendJson<T>(method: 'POST' | 'PATCH', url: string, body: object = {}): Promise<T> {
  return call<T>(method, url, {
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
}

/** Sends a file as the request body, as it is: the server reads it as a stream. */
export function uploadFile<T>(url: string, file: File, contentType: string): Promise<T> {
  const headers: Record<string, string> = { 'content-type': contentType };
  // A header value must be Latin-1; a name that is not plain ASCII is left out (it is optional).
  if (/^[\x20-\x7e]{1,255}$/.test(file.name)) headers['x-file-name'] = file.name;
  return call<T>('POST', url, { body: file, headers });
}

/** The message of anything thrown, for the alert region (never a stack). */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return 'The server could not be reached. Check the connection.';
  return error instanceof Error ? error.message : String(error);
}
