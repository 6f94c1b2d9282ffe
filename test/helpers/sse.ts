import { request } from 'undici';

export interface StreamRead {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body exactly as received. */
  text: string;
  /** `data:` payloads in order. */
  data: string[];
  /** Milliseconds from the request to each chunk's arrival. */
  arrivals: number[];
}

/** Posts and reads an SSE answer chunk by chunk, noting when each chunk arrived. */
export async function readStream(url: string, body: unknown, headers: Record<string, string> = {}): Promise<StreamRead> {
  const started = Date.now();
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const arrivals: number[] = [];
  let text = '';
  for await (const chunk of res.body) {
    arrivals.push(Date.now() - started);
    text += (chunk as Buffer).toString('utf8');
  }
  const data = text
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trim());
  return { status: res.statusCode, headers: res.headers, text, data, arrivals };
}
