/**
 * A bound on what an event stream (SSE) holds for a client that does not read it. The SDK's
 * transport enqueues every message into the stream at once; the node adapter writes it out as
 * the client reads (it waits for `drain`). A client that stops reading while the server keeps
 * sending would otherwise grow the queue without end. Past `maxBytes` queued, the stream ends:
 * its events stay in the session's event store (shared/event-store.ts), and the client resumes
 * with Last-Event-ID (MCP 2025-11-25, transports, "Resumability and Redelivery": the server MAY
 * close a stream, and the client MAY resume it). JSON responses are not streams and pass as is.
 */
export function boundedResponse(response: Response, maxBytes: number, onOverflow: () => void): Response {
  const type = response.headers.get('content-type') ?? '';
  if (!response.body || !type.startsWith('text/event-stream')) return response;
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        void pump(controller);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: maxBytes }),
  );
  async function pump(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        controller.enqueue(value);
        // desiredSize is highWaterMark less what waits unread in this stream's queue.
        if ((controller.desiredSize ?? 0) < 0) {
          onOverflow();
          await reader.cancel('the client did not read the stream');
          return controller.error(new Error('stream buffer limit'));
        }
      }
    } catch (err) {
      controller.error(err);
    }
  }
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
