/** Webhook signatures (sign, verify, tolerance, rotation) and the address policy (what webhooks may reach). */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAddressPolicy } from '../../src/notify/address-policy.js';
import { signWebhook, verifyWebhook } from '../../src/notify/signature.js';

const secret = 'whsec-test-0123456789-abcdefghijklmnop';
const body = '{"id":"evt_1","type":"export.succeeded"}';

describe('webhook signature', () => {
  it('is t=<unix>,v1=<hex HMAC-SHA256 of "t.body">, checkable with nothing but node:crypto', () => {
    const header = signWebhook(secret, body, 1_764_000_000);
    const expected = createHmac('sha256', secret).update(`1764000000.${body}`).digest('hex');
    expect(header).toBe(`t=1764000000,v1=${expected}`);
  });

  it('verifies the raw body and refuses a changed body, another secret, a stale timestamp or garbage', () => {
    const now = Date.now();
    const header = signWebhook(secret, body, Math.floor(now / 1000));
    expect(verifyWebhook(secret, body, header, 300, now)).toBe(true);
    expect(verifyWebhook(secret, `${body} `, header, 300, now)).toBe(false);
    expect(verifyWebhook(`${secret}x`, body, header, 300, now)).toBe(false);
    expect(verifyWebhook(secret, body, header, 300, now + 301_000)).toBe(false);
    for (const bad of [null, '', 't=abc,v1=00', 'v1=' + 'a'.repeat(64), `t=${Math.floor(now / 1000)}`]) expect(verifyWebhook(secret, body, bad, 300, now)).toBe(false);
  });

  it('accepts any of several v1 values (secret rotation)', () => {
    const t = Math.floor(Date.now() / 1000);
    const good = signWebhook(secret, body, t).split(',')[1]!;
    expect(verifyWebhook(secret, body, `t=${t},v1=${'0'.repeat(64)},${good}`)).toBe(true);
  });
});

describe('webhook address policy', () => {
  const policy = createAddressPolicy();

  it('refuses loopback, private, link-local and other non-public addresses', async () => {
    for (const url of ['http://127.0.0.1/x', 'http://127.1.2.3/', 'http://10.1.2.3/', 'http://172.16.0.1/', 'http://192.168.1.1/',
      'http://169.254.169.254/latest/meta-data', 'http://0.0.0.0/', 'http://100.64.0.1/', 'http://[::1]/', 'http://[fe80::1]/', 'http://[fd00::1]/',
      'http://[::ffff:127.0.0.1]/', 'http://0x7f000001/', 'http://localhost:8080/']) {
      await expect(policy.check(url), url).rejects.toMatchObject({ code: 'WEBHOOK_URL_REJECTED' });
    }
  });

  it('accepts public addresses, and non-public ones only when allow-listed', async () => {
    await expect(policy.check('https://93.184.215.14/hook')).resolves.toMatchObject({ addresses: [{ address: '93.184.215.14', family: 4 }] });
    await expect(policy.check('http://[2606:4700::1111]/')).resolves.toBeTruthy();
    const allow = createAddressPolicy(['127.0.0.1', '10.20.0.0/16']);
    await expect(allow.check('http://127.0.0.1:9/x')).resolves.toBeTruthy();
    await expect(allow.check('http://10.20.3.4/x')).resolves.toBeTruthy();
    await expect(allow.check('http://10.21.0.1/x')).rejects.toMatchObject({ code: 'WEBHOOK_URL_REJECTED' });
    await expect(allow.check('http://127.0.0.2/x')).rejects.toMatchObject({ code: 'WEBHOOK_URL_REJECTED' });
  });

  it('refuses other schemes, credentials in the URL, and hosts that do not resolve', async () => {
    await expect(policy.check('ftp://93.184.215.14/')).rejects.toThrow(/scheme/);
    await expect(policy.check('https://user:pw@93.184.215.14/')).rejects.toThrow(/credentials/);
    await expect(policy.check('https://no-such-host.invalid/')).rejects.toThrow(/does not resolve/);
    expect(() => createAddressPolicy(['not-an-ip'])).toThrow(/not an IP address/);
  });
});
