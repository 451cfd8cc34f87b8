import { setText } from './dom.js';

/** The live regions are in index.html from the start: a region added with its text is not announced. */
function region(id: string): HTMLElement {
  return document.getElementById(id) as HTMLElement;
}

/** The outcome waiting to be written, so that a later message replaces it rather than follows it. */
let pending: ReturnType<typeof setTimeout> | undefined;

function clear(): void {
  clearTimeout(pending);
  setText(region('status-message'), '');
  setText(region('alert-message'), '');
}

/** An outcome ("Saved line 21"), announced politely. Clears an earlier error: it is no longer news. */
export function showStatus(text: string): void {
  clear();
  // Written after the emptying has been seen, so that the same outcome twice is announced twice.
  pending = setTimeout(() => setText(region('status-message'), text), 50);
}

/** An error: the server's message as it sent it, announced at once. */
export function showAlert(text: string): void {
  clear();
  setText(region('alert-message'), text);
}

export function clearMessages(): void {
  clear();
}
