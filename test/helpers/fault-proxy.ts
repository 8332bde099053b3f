/**
 * An HTTP proxy in front of a test S3 endpoint that breaks a share of requests the way networks
 * and busy object stores do: 500 InternalError, 503 SlowDown, a connection dropped while the
 * client is still sending the body (the store never sees the request), and a connection dropped
 * after the store did the work but before the client read the whole answer (the request took
 * effect; the client cannot know). Faults rotate through those kinds, so each one occurs.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultKind = 'error-500' | 'slowdown-503' | 'drop-request' | 'drop-response';
export const FAULT_KINDS: readonly FaultKind[] = ['error-500', 'drop-request', 'slowdown-503', 'drop-response'];

export interface ProxiedRequest { method: string; path: string; query: URLSearchParams }

export interface FaultProxy {
  endpoint: string;
  /** Faults injected so far, per kind, and the requests each hit. */
  injected: { kind: FaultKind; method: string; path: string; query: string }[];
  /**
   * Every `every`-th request matching `when` gets the next fault kind in rotation (0 = none),
   * at most `limit` times.
   */
  configure(options: { every: number; when?: (r: ProxiedRequest) => boolean; kinds?: readonly FaultKind[]; limit?: number }): void;
  close(): Promise<void>;
}

const s3Error = (code: string, message: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  let every = 0;
  let when: (r: ProxiedRequest) => boolean = () => true;
  let kinds: readonly FaultKind[] = FAULT_KINDS;
  let matched = 0;
  let rotation = 0;
  let left = Infinity;
  const injected: FaultProxy['injected'] = [];

  const forward = (req: IncomingMessage, res: ServerResponse, onResponse?: (up: IncomingMessage) => void): void => {
    const up = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      if (onResponse) return onResponse(upRes);
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const r: ProxiedRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams };
    let kind: FaultKind | null = null;
    if (every > 0 && left > 0 && when(r)) {
      matched += 1;
      if (matched % every === 0) {
        kind = kinds[rotation++ % kinds.length]!;
        left -= 1;
      }
    }
    if (kind === null) return forward(req, res);
    injected.push({ kind, method: r.method, path: r.path, query: url.search });
    switch (kind) {
      case 'error-500':
      case 'slowdown-503':
        req.resume();
        req.on('end', () => {
          const [status, code] = kind === 'error-500' ? [500, 'InternalError'] : [503, 'SlowDown'];
          res.writeHead(status, { 'Content-Type': 'application/xml' }).end(s3Error(code, 'injected by the fault proxy'));
        });
        return;
      case 'drop-request': {
        // Read about half of the body the client announced, then hang up on it.
        const announced = Number(req.headers['content-length'] ?? 0);
        let seen = 0;
        if (announced === 0) return void req.socket.destroy();
        req.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen >= announced / 2) req.socket.destroy();
        });
        return;
      }
      case 'drop-response':
        // The store does the work; the client gets at most half of the answer.
        return forward(req, res, (upRes) => {
          const body: Buffer[] = [];
          upRes.on('data', (c: Buffer) => body.push(c));
          upRes.on('end', () => {
            const all = Buffer.concat(body);
            if (all.length === 0) return void res.socket?.destroy();
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            res.write(all.subarray(0, Math.floor(all.length / 2)), () => res.socket?.destroy());
          });
        });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected,
    configure(o) {
      every = o.every;
      when = o.when ?? (() => true);
      kinds = o.kinds ?? FAULT_KINDS;
      left = o.limit ?? Infinity;
      matched = 0;
      rotation = 0;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
