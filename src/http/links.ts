/** Signed, expiring download links: HMAC-SHA256 over the export id and the expiry. */
import { createHmac, timingSafeEqual } from 'node:crypto';

function sign(secret: string, id: string, expires: number): string {
  return createHmac('sha256', secret).update(`download\n${id}\n${expires}`).digest('base64url');
}

/** Query string (`expires=…&signature=…`) granting a download of `id` until `expires` (epoch seconds). */
export function signedQuery(secret: string, id: string, expires: number): string {
  return `expires=${expires}&signature=${sign(secret, id, expires)}`;
}

/** True when the signature matches and the link has not expired. */
export function verifySignature(secret: string, id: string, expires: string | undefined, signature: string | undefined, now = Date.now()): boolean {
  if (!expires || !signature || !/^\d{1,12}$/.test(expires)) return false;
  const exp = Number(expires);
  if (exp * 1000 < now) return false;
  const want = Buffer.from(sign(secret, id, exp));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}
