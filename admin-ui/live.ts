import { showAlert } from './notify.js';

/**
 * Follows a Server-Sent Events stream of the admin API until the returned function is called. The
 * browser reconnects by itself after a network error; a refusal (an error status) closes the stream
 * for good, which the operator is told, since the page would silently stop moving otherwise.
 */
export function follow<T>(url: string, event: string, onData: (data: T) => void): () => void {
  const source = new EventSource(url);
  source.addEventListener(event, (message) => {
    onData(JSON.parse((message as MessageEvent<string>).data) as T);
  });
  // A reading that failed on the server: its error body.
  source.addEventListener('failure', (message) => {
    const body = JSON.parse((message as MessageEvent<string>).data) as { message?: unknown };
    showAlert(typeof body.message === 'string' ? body.message : 'Live updates failed.');
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) {
      showAlert('Live updates stopped: reload the page to see changes.');
    }
  });
  return () => source.close();
}
