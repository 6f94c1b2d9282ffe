import { connect, type Socket } from 'node:net';

/** Sends raw bytes to a port and reads until the server closes or `ms` pass; returns what came back. */
export function rawExchange(port: number, payload: string, ms = 2000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    s.write(payload);
  });
}

/** The status code of the first response in a raw exchange, or null. */
export function statusOf(text: string): number | null {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return m ? Number(m[1]) : null;
}
