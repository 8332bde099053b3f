/** Webhook signatures: `Offload-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Offload-Signature';

function hmacHex(secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

/**
 * The signature header value for a body sent at `t` (unix seconds).
 * @example signWebhook(secret, JSON.stringify(event)) // 't=1764000000,v1=5f0c…'
 */
export function signWebhook(secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${hmacHex(secret, t, body)}`;
}

/**
 * Checks a received signature: the HMAC of `"<t>.<raw body>"` must match one `v1` value (several
 * are allowed, for secret rotation) and `t` must be within `toleranceSeconds` of now, so a
 * captured request cannot be replayed later. Compare against the raw body bytes, not re-serialised JSON.
 */
export function verifyWebhook(secret: string, body: string, header: string | null | undefined, toleranceSeconds = 300, now = Date.now()): boolean {
  if (!header) return false;
  let t: number | null = null;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const [k, v] = part.trim().split('=', 2);
    if (k === 't' && v && /^\d{1,12}$/.test(v)) t = Number(v);
    else if (k === 'v1' && v && /^[0-9a-f]{64}$/.test(v)) candidates.push(v);
  }
  if (t === null || candidates.length === 0) return false;
  if (Math.abs(now / 1000 - t) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(secret, t, body), 'hex');
  return candidates.some((c) => timingSafeEqual(Buffer.from(c, 'hex'), expected));
}
