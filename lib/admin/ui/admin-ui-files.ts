import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { messages } from '../../reliable-imports.messages';

/** A built file of the page, read once. */
export interface AdminUiFile {
  body: Buffer;
  contentType: string;
}

/** The page's built files: the HTML template, and the assets by name. */
export interface AdminUiFiles {
  /** index.html as built, with the config placeholder still in it. */
  indexTemplate: string;
  /** Only what may be served under `<path>/ui/`: a request for any other name is a 404. */
  assets: ReadonlyMap<string, AdminUiFile>;
}

/** The types of the files the build makes; a file of any other type is not served. */
const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Where index.html says the config goes: the whole `content` of the config meta. */
export const CONFIG_PLACEHOLDER = '__RELIABLE_IMPORTS_ADMIN_CONFIG__';

/** Built from `dist/lib/admin/ui/`, or (tests, ts-node) from `lib/admin/ui/` beside a built `dist/`. */
function candidateDirectories(): string[] {
  return [resolve(__dirname, '../../../admin-ui'), resolve(__dirname, '../../../dist/admin-ui')];
}

/**
 * A directory is the built page when its index.html sits beside the compiled entry module: the sources
 * (`admin-ui/` of the repository) have index.html too, but only `.ts` beside it.
 */
function isBuilt(directory: string): boolean {
  return existsSync(join(directory, 'index.html')) && existsSync(join(directory, 'main.js'));
}

let loaded: AdminUiFiles | undefined;

/**
 * Reads the built page once per process (a few small files, the same for every registration).
 * @throws Error when the page was not built: the message says where it looked and what to run.
 */
export function loadAdminUiFiles(): AdminUiFiles {
  if (loaded) return loaded;
  const looked = candidateDirectories();
  const directory = looked.find(isBuilt);
  if (!directory) throw new Error(messages.adminUiNotBuilt(looked));
  const assets = new Map<string, AdminUiFile>();
  for (const name of readdirSync(directory)) {
    const contentType = CONTENT_TYPES[extname(name)];
    const path = join(directory, name);
    if (!contentType || !statSync(path).isFile()) continue;
    assets.set(name, { body: readFileSync(path), contentType });
  }
  loaded = { indexTemplate: readFileSync(join(directory, 'index.html'), 'utf8'), assets };
  return loaded;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text made safe inside an HTML attribute value or element. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]);
}

/**
 * index.html for one registration: its config in the meta that the page reads (no inline script, which
 * the page's CSP forbids).
 */
export function renderIndex(template: string, config: { csrfHeader: string }): string {
  // A function, so that a `$` in the config is not read as a replacement pattern.
  return template.replace(CONFIG_PLACEHOLDER, () => escapeHtml(JSON.stringify(config)));
}
