import { setText } from './dom.js';

/** The live regions are in index.html from the start: a region added with its text is not announced. */
function region(id: string): HTMLElement {
  return document.getElementById(id) as HTMLElement;
}

/** An outcome ("Saved line 21"), announced politely. Clears an earlier error: it is no longer news. */
export function showStatus(text: string): void {
  setText(region('alert-message'), '');
  // Emptied first, so that the same outcome twice is announced twice.
  setText(region('status-message'), '');
  requestAnimationFrame(() => setText(region('status-message'), text));
}

/** An error: the server's message as it sent it, announced at once. */
export function showAlert(text: string): void {
  setText(region('status-message'), '');
  setText(region('alert-message'), text);
}

export function clearMessages(): void {
  setText(region('status-message'), '');
  setText(region('alert-message'), '');
}
