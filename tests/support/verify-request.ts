/**
 * A request as Traefik's ForwardAuth sends it to /verify for an original POST to `uri`, at `host`
 * (the gateway's public host: by default `base`'s; another replica's PUBLIC_URL when `base` is a
 * replica of it).
 */
export async function askVerify(
  base: string,
  uri: string,
  authorization?: string,
  host = new URL(base).host,
): Promise<{ status: number; headers: Headers; body?: Record<string, string> }> {
  const res = await fetch(`${base}/verify`, {
    headers: {
      'x-forwarded-method': 'POST',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': host,
      'x-forwarded-uri': uri,
      'x-forwarded-for': '203.0.113.7',
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      'mcp-protocol-version': '2025-11-25',
      ...(authorization ? { authorization } : {}),
    },
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text ? (JSON.parse(text) as Record<string, string>) : undefined,
  };
}
