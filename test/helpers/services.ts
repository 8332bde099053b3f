/** Reaching the machine's real services from tests: fail under CI=true when one is down, skip with a reason otherwise. */
import { Socket } from 'node:net';

export const SERVICES = Object.freeze({
  postgres: { host: '127.0.0.1', port: 5432, url: process.env.OFFLOAD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
  mysql: { host: '127.0.0.1', port: 3306, url: process.env.OFFLOAD_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test' },
  redis: { host: '127.0.0.1', port: 6379, url: process.env.OFFLOAD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' },
});

export type ServiceName = keyof typeof SERVICES;

function reachable(host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/**
 * Resolves true when the service answers. Under CI=true an unreachable service throws (the test
 * fails); elsewhere it returns false and prints why, so the caller can skip.
 * @example const pgUp = await serviceAvailable('postgres'); describe.skipIf(!pgUp)(…)
 */
export async function serviceAvailable(name: ServiceName): Promise<boolean> {
  const s = SERVICES[name];
  if (await reachable(s.host, s.port)) return true;
  const msg = `${name} is not reachable on ${s.host}:${s.port}`;
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${msg} (CI=true: tests that need it fail instead of skipping)`);
  console.warn(`[offload tests] skipping ${name} tests: ${msg}`);
  return false;
}
