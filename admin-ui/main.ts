import { renderBatchPage } from './batch-page.js';
import { renderListPage } from './list-page.js';
import { clearMessages } from './notify.js';

const main = document.getElementById('main') as HTMLElement;
let teardown: (() => void) | undefined;

/**
 * Routing by hash (`#/`, `#/batches/<id>`): the server serves one page at `<path>/`, whatever the mount
 * path, and a reload keeps the operator where they were.
 */
function route(initial: boolean): void {
  // The old page's streams are closed: the server keeps one open per stream otherwise.
  teardown?.();
  clearMessages();
  main.replaceChildren();
  const batch = /^#\/batches\/([^/?#]+)$/.exec(location.hash);
  teardown = batch ? renderBatchPage(main, decodeURIComponent(batch[1])) : renderListPage(main);
  document.title = batch ? `Batch ${batch[1].slice(0, 8)} · Imports` : 'Imports';
  // A screen reader and the keyboard start on the new page's heading, as after a page load.
  if (!initial) main.querySelector<HTMLElement>('h1')?.focus();
}

window.addEventListener('hashchange', () => route(false));
route(true);
