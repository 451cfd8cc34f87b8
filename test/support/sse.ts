/** One message of a Server-Sent Events stream: its `event:` line (if any) and its `data:` line. */
export interface SseFrame {
  type: string | undefined;
  data: string;
}

/**
 * Reads a Server-Sent Events stream as its chunks arrive: `push` takes a chunk and returns the messages it
 * completed (a message ends at a blank line, and a chunk may end in the middle of one). Messages without
 * data (comments, keep-alives) are left out.
 */
export class SseFrames {
  private buffer = '';

  push(chunk: string): SseFrame[] {
    this.buffer += chunk;
    const blocks = this.buffer.split('\n\n');
    this.buffer = blocks.pop() ?? '';
    const frames: SseFrame[] = [];
    for (const block of blocks) {
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (data !== undefined) frames.push({ type: /^event: (.*)$/m.exec(block)?.[1], data });
    }
    return frames;
  }
}
