/**
 * A request's JSON body, read whole and bounded (the stdio proxy's and the native services'):
 * 413 over `maxBytes` (declared or observed), 400 with a JSON-RPC parse error for anything not
 * JSON. Each failure as the HTTP status and JSON-RPC error it is answered with.
 */
import type { IncomingMessage } from 'node:http';

export type Body = { ok: true; value: unknown } | { ok: false; status: number; code: number; message: string };

export async function readJson(req: IncomingMessage, maxBytes: number): Promise<Body> {
  const tooLarge = { ok: false, status: 413, code: -32000, message: `Message too large: at most ${maxBytes} bytes` };
  if (Number(req.headers['content-length']) > maxBytes) return tooLarge as Body;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) return tooLarge as Body;
    chunks.push(chunk);
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch {
    return { ok: false, status: 400, code: -32700, message: 'Parse error: the body is not JSON' };
  }
}
